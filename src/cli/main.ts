/**
 * `xfmr` entry point: dispatches to one file per subcommand. Errors print one line on stderr
 * (a stack trace only with --verbose or XFMR_DEBUG=1) and set a non-zero exit code; we never call
 * process.exit() so large outputs drain through pipes.
 */
import { readFileSync } from 'node:fs';
import { UsageError } from './args.ts';

/** A subcommand's module: `run`, and the usage `--help` prints where the module has no help of its own. */
interface CommandModule {
  run: (argv: string[]) => Promise<void>;
  USAGE?: string;
}

const commands: Record<string, { describe: string; load: () => Promise<CommandModule> }> = {
  eval: {
    describe: 'EM / F1 of a RAG model without retrieval, with retrieval and with the gold chunk',
    load: () => import('./eval.ts'),
  },
  export: {
    describe:
      'write a model directory as GGUF (llama.cpp) or a Hugging Face copy: --model DIR --format gguf|hf --out PATH',
    load: () => import('./export.ts'),
  },
  generate: {
    describe:
      'generate text: --model DIR|FILE.gguf (--prompt TEXT | --prompt-ids 1,2,3) [--max-tokens N] [--json]',
    load: () => import('./generate.ts'),
  },
  quantize: {
    describe:
      'write a GGUF with quantized weights: --model DIR|FILE.gguf --type q8_0|q4_0|q4_k_m|q5_k_m --out FILE.gguf',
    load: () => import('./quantize.ts'),
  },
  info: { describe: 'backend, CPU features and threads', load: () => import('./info.ts') },
  init: {
    describe:
      'write a randomly initialised model directory: --config PRESET|FILE.json --tokenizer FILE --out DIR',
    load: () => import('./init.ts'),
  },
  data: {
    describe: 'prepare token shards from text or JSONL (data prepare)',
    load: () => import('./data.ts'),
  },
  demo: {
    describe: 'a tiny character-level transformer trained in a few seconds (the kernels at work)',
    load: async () => ({
      run: (await import('../train/demo.ts')).runDemo,
      USAGE: 'usage: xfmr demo [STEPS]   (default 150 steps)',
    }),
  },
  dpo: {
    describe:
      'Direct Preference Optimization: --model DIR --data PREFS.jsonl --out DIR [--beta 0.1] [--loss sigmoid|ipo]',
    load: () => import('./dpo.ts'),
  },
  plot: {
    describe: 'draw train/validation loss curves from a metrics JSONL as PNG',
    load: () => import('./plot.ts'),
  },
  pretrain: {
    describe: 'pretrain a decoder on token shards',
    load: () => import('./pretrain.ts'),
  },
  ppo: {
    describe: 'PPO against a reward model: --model DIR --reward RM_DIR --prompts PROMPTS.jsonl --out DIR',
    load: () => import('./ppo.ts'),
  },
  embedder: {
    describe:
      'train a sentence embedder: embedder pairs --out PAIRS.jsonl ...; embedder train --pairs PAIRS.jsonl --out DIR --minutes N',
    load: () => import('./embedder.ts'),
  },
  recipe: {
    describe:
      'train the shipped RAG model end to end: recipe default (tokenizer, pretrain, SFT, DPO, export, eval)',
    load: () => import('./recipe.ts'),
  },
  reward: {
    describe:
      'train a reward model on preference pairs: reward train --model DIR --data PREFS.jsonl --out DIR',
    load: () => import('./reward.ts'),
  },
  rag: {
    describe: 'retrieval-augmented generation: rag index --db FILE PATHS... | rag query | rag ask | rag info',
    load: () => import('./rag.ts'),
  },
  serve: {
    describe:
      'the OpenAI-compatible API and the playground: --model DIR [--db RAG.sqlite] [--metrics FILE] [--port 8080] [--batch 8]',
    load: () => import('./serve.ts'),
  },
  lora: {
    describe:
      'LoRA adapters: merge into the base, or export as GGUF (merge|export --model BASE --adapter DIR --out PATH)',
    load: () => import('./lora.ts'),
  },
  sft: {
    describe: 'supervised fine-tuning on prompt/completion or chat JSONL',
    load: () => import('./sft.ts'),
  },
  start: {
    describe:
      "the main job (npm start): index docs/ and serve the project's small model with RAG and the playground",
    load: () => import('./start.ts'),
  },
  tokenize: {
    describe: 'print the token ids of a text (--tokenizer tokenizer.json|gpt2|cl100k_base|o200k_base)',
    load: () => import('./tokenize.ts'),
  },
  tokenizer: {
    describe: 'train a tokenizer: tokenizer train --type bpe|wordpiece|unigram --vocab-size N --out FILE',
    load: () => import('./tokenizer.ts'),
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
  const mod = await cmd.load();
  // --help never runs the command (a recipe would overwrite the shipped model); options after a
  // bare -- are the command's positionals, not ours.
  const end = rest.includes('--') ? rest.indexOf('--') : rest.length;
  const args = rest.map((a, i) => (a === '-h' && i < end ? '--help' : a));
  if (mod.USAGE && args.slice(0, end).includes('--help')) {
    process.stdout.write(`${mod.USAGE}\n`);
    return;
  }
  await mod.run(args);
}

const verbose = process.argv.includes('--verbose') || process.env.XFMR_DEBUG === '1';
main(process.argv.slice(2)).catch((e: unknown) => {
  const err = e as Error;
  process.stderr.write(`xfmr: ${err.message}\n`);
  if (verbose && err.stack) process.stderr.write(`${err.stack}\n`);
  process.exitCode = e instanceof UsageError ? 2 : 1;
});
