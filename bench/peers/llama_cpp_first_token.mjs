// The llama.cpp side of `npm run bench -- decode`'s start-up rows: a fresh process that loads a GGUF
// with node-llama-cpp (3.21.1, CPU, llama.cpp's own mmap loader), creates a context, evaluates the
// given prompt ids and takes one greedy token, then prints {"token": id} on stdout and exits.
// Plain JavaScript (not TypeScript through tsx) so that no transpiler start-up is charged to
// llama.cpp. The parent times the process from spawn to that line and reads its peak RSS.
//
//   node bench/peers/llama_cpp_first_token.mjs MODEL.gguf IDS(1,2,3) THREADS
import { getLlama, LlamaLogLevel } from 'node-llama-cpp';

const [modelPath, idsArg, threadsArg] = process.argv.slice(2);
if (!modelPath || !idsArg) {
  process.stderr.write('usage: llama_cpp_first_token.mjs MODEL.gguf IDS THREADS\n');
  process.exit(2);
}
const ids = idsArg.split(',').map(Number);
const threads = Number(threadsArg ?? 2);
const llama = await getLlama({ gpu: false, build: 'never', logLevel: LlamaLogLevel.error });
const model = await llama.loadModel({ modelPath });
// The context holds the prompt and one token (llama.cpp rounds it up to 256); f32 KV cache and no
// flash attention, as xfmr's cache and the decode rows.
const context = await model.createContext({
  contextSize: ids.length + 1,
  batchSize: Math.min(512, ids.length),
  threads,
  flashAttention: false,
  experimentalKvCacheKeyType: 'F32',
  experimentalKvCacheValueType: 'F32',
});
const it = context.getSequence().evaluate(ids, { temperature: 0 })[Symbol.asyncIterator]();
const first = await it.next();
process.stdout.write(`${JSON.stringify({ token: first.done ? null : first.value })}\n`);
// Exit at once (as `xfmr generate` does after its last token): the measurement is over.
process.exit(0);
