/**
 * `xfmr` entry point: dispatches to one file per subcommand. Errors print one line on stderr
 * (a stack trace only with --verbose or XFMR_DEBUG=1) and set a non-zero exit code; we never call
 * process.exit() so large outputs drain through pipes.
 */
import { readFileSync } from 'node:fs';
import { UsageError } from './args.ts';

type Command = (argv: string[]) => Promise<void>;

const commands: Record<string, { describe: string; load: () => Promise<Command> }> = {
  eval: {
    describe: 'EM / F1 of a RAG model without retrieval, with retrieval and with the gold chunk',
    load: async () => (await import('./eval.ts')).run,
  },
  export: {
    describe:
      'write a model directory as GGUF (llama.cpp) or a Hugging Face copy: --model DIR --format gguf|hf --out PATH',
    load: async () => (await import('./export.ts')).run,
  },
  generate: {
    describe:
      'generate text: --model DIR|FILE.gguf (--prompt TEXT | --prompt-ids 1,2,3) [--max-tokens N] [--json]',
    load: async () => (await import('./generate.ts')).run,
  },
  quantize: {
    describe:
      'write a GGUF with quantized weights: --model DIR|FILE.gguf --type q8_0|q4_0|q4_k_m|q5_k_m --out FILE.gguf',
    load: async () => (await import('./quantize.ts')).run,
  },
  info: { describe: 'backend, CPU features and threads', load: async () => (await import('./info.ts')).run },
  init: {
    describe:
      'write a randomly initialised model directory: --config PRESET|FILE.json --tokenizer FILE --out DIR',
    load: async () => (await import('./init.ts')).run,
  },
  data: {
    describe: 'prepare token shards from text or JSONL (data prepare)',
    load: async () => (await import('./data.ts')).run,
  },
  demo: {
    describe: 'a tiny character-level transformer trained in a few seconds (the kernels at work)',
    load: async () => (await import('../train/demo.ts')).runDemo,
  },
  dpo: {
    describe:
      'Direct Preference Optimization: --model DIR --data PREFS.jsonl --out DIR [--beta 0.1] [--loss sigmoid|ipo]',
    load: async () => (await import('./dpo.ts')).run,
  },
  plot: {
    describe: 'draw train/validation loss curves from a metrics JSONL as PNG',
    load: async () => (await import('./plot.ts')).run,
  },
  pretrain: {
    describe: 'pretrain a decoder on token shards',
    load: async () => (await import('./pretrain.ts')).run,
  },
  ppo: {
    describe: 'PPO against a reward model: --model DIR --reward RM_DIR --prompts PROMPTS.jsonl --out DIR',
    load: async () => (await import('./ppo.ts')).run,
  },
  embedder: {
    describe:
      'train a sentence embedder: embedder pairs --out PAIRS.jsonl ...; embedder train --pairs PAIRS.jsonl --out DIR --minutes N',
    load: async () => (await import('./embedder.ts')).run,
  },
  recipe: {
    describe:
      'train the shipped RAG model end to end: recipe default (tokenizer, pretrain, SFT, DPO, export, eval)',
    load: async () => (await import('./recipe.ts')).run,
  },
  reward: {
    describe:
      'train a reward model on preference pairs: reward train --model DIR --data PREFS.jsonl --out DIR',
    load: async () => (await import('./reward.ts')).run,
  },
  rag: {
    describe: 'retrieval-augmented generation: rag index --db FILE PATHS... | rag query | rag ask | rag info',
    load: async () => (await import('./rag.ts')).run,
  },
  serve: {
    describe:
      'the OpenAI-compatible API and the playground: --model DIR [--db RAG.sqlite] [--metrics FILE] [--port 8080] [--batch 8]',
    load: async () => (await import('./serve.ts')).run,
  },
  lora: {
    describe:
      'LoRA adapters: merge into the base, or export as GGUF (merge|export --model BASE --adapter DIR --out PATH)',
    load: async () => (await import('./lora.ts')).run,
  },
  sft: {
    describe: 'supervised fine-tuning on prompt/completion or chat JSONL',
    load: async () => (await import('./sft.ts')).run,
  },
  start: {
    describe:
      "the main job (npm start): index docs/ and serve the project's small model with RAG and the playground",
    load: async () => (await import('./start.ts')).run,
  },
  tokenize: {
    describe: 'print the token ids of a text (--tokenizer tokenizer.json|gpt2|cl100k_base|o200k_base)',
    load: async () => (await import('./tokenize.ts')).run,
  },
  tokenizer: {
    describe: 'train a tokenizer: tokenizer train --type bpe|wordpiece|unigram --vocab-size N --out FILE',
    load: async () => (await import('./tokenizer.ts')).run,
  },
};

function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
    version: string;
  };
  return pkg.version;
}

function usage(): string {
  const lines = Object.entries(commands).map(([name, c]) => `  ${name.padEnd(12)} ${c.describe}`);
  return `xfmr ${version()}: a language-model stack in TypeScript\n\nusage: xfmr COMMAND [options]\n\n${lines.join('\n')}\n`;
}

async function main(argv: string[]): Promise<void> {
  const [name, ...rest] = argv;
  if (name === '--version' || name === '-v') {
    process.stdout.write(`${version()}\n`);
    return;
  }
  if (!name || name === '--help' || name === 'help') {
    process.stdout.write(usage());
    return;
  }
  const cmd = commands[name];
  if (!cmd) throw new UsageError(`unknown command "${name}" (run xfmr --help)`);
  await (await cmd.load())(rest);
}

const verbose = process.argv.includes('--verbose') || process.env.XFMR_DEBUG === '1';
main(process.argv.slice(2)).catch((e: unknown) => {
  const err = e as Error;
  process.stderr.write(`xfmr: ${err.message}\n`);
  if (verbose && err.stack) process.stderr.write(`${err.stack}\n`);
  process.exitCode = e instanceof UsageError ? 2 : 1;
});
