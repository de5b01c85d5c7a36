/**
 * node-llama-cpp (llama.cpp) for the GGUF interop tests: greedy decoding of a GGUF file from
 * prompt ids, with llama.cpp's next-token log-probabilities at every step when asked. llama.cpp
 * runs on the CPU with an f32 KV cache and flash attention off, so that it computes attention in
 * f32 as xfmr does. Returns the reason instead when node-llama-cpp or its prebuilt binary cannot
 * load here (the tests skip then).
 */
import type { Token } from 'node-llama-cpp';

export interface LlamaCppRun {
  /** Greedy ids; fewer than asked when llama.cpp stopped at an end-of-generation token. */
  ids: number[];
  /** Per step, ln p(token) for every token of the vocabulary (only with `logProbs`). */
  logProbs: Map<number, number>[];
  /** The CPU backend llama.cpp loaded (e.g. "libggml-cpu-zen4.so"), when it said. */
  backend: string;
}

/** The CPU backend's file name, logged once per process when node-llama-cpp first loads it. */
let backend = '';

export async function llamaCppGreedy(
  gguf: string,
  prompt: number[],
  steps: number,
  options: { logProbs?: boolean; lora?: string } = {},
): Promise<LlamaCppRun | string> {
  let mod: typeof import('node-llama-cpp');
  try {
    mod = await import('node-llama-cpp');
  } catch (e) {
    return `node-llama-cpp is not installed (${(e as Error).message.split('\n')[0]})`;
  }
  let llama: Awaited<ReturnType<typeof mod.getLlama>>;
  try {
    llama = await mod.getLlama({
      gpu: false,
      build: 'never',
      logLevel: mod.LlamaLogLevel.debug,
      logger: (_level, message) => {
        const m = /loaded CPU backend from (\S+)/.exec(message);
        if (m) backend = m[1]!.split('/').pop()!;
      },
    });
  } catch (e) {
    return `node-llama-cpp's native binary cannot load on this machine (${(e as Error).message.split('\n')[0]})`;
  }
  try {
    const model = await llama.loadModel({ modelPath: gguf });
    const ctx = await model.createContext({
      contextSize: 128,
      flashAttention: false,
      threads: 2,
      experimentalKvCacheKeyType: 'F32',
      experimentalKvCacheValueType: 'F32',
      // a GGUF LoRA adapter applied at scale 1 (llama.cpp's --lora)
      ...(options.lora ? { lora: { adapters: [{ filePath: options.lora, scale: 1 }] } } : {}),
    });
    const seq = ctx.getSequence();
    const run: LlamaCppRun = { ids: [], logProbs: [], backend };
    if (options.logProbs) {
      const gen = seq.evaluateWithMetadata(prompt as Token[], { probabilities: true }, { temperature: 0 });
      for await (const o of gen) {
        run.ids.push(o.token);
        run.logProbs.push(new Map([...o.probabilities].map(([t, p]) => [t as number, Math.log(p)])));
        if (run.ids.length >= steps) break;
      }
    } else {
      for await (const t of seq.evaluate(prompt as Token[], { temperature: 0 })) {
        run.ids.push(t);
        if (run.ids.length >= steps) break;
      }
    }
    return run;
  } finally {
    await llama.dispose();
  }
}
