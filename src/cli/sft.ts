/**
 * `xfmr sft --model DIR --data FILE.jsonl --out DIR [options]`: supervised fine-tuning on
 * {"prompt","completion"} or {"messages": [...]} rows, rendered through the model's chat template
 * when it has one, with the loss on assistant tokens only. A held-out slice (--held-out, default
 * 5%) is the validation set.
 *
 * `--lora r=16,alpha=32,dropout=0.05,targets=q,k,v,o` trains LoRA adapters on a frozen base
 * instead (models/lora.ts; fields optional, those defaults) and writes a PEFT adapter directory
 * (adapter_config.json + adapter_model.safetensors) to --out. The base is used as loaded: a GGUF
 * file's Q8_0/Q4 matrices stay quantized (QLoRA), a bf16 safetensors file stays bf16.
 */
import { readFileSync } from 'node:fs';
import type { JsonValue } from '../io/checkpoint.ts';
import { loadDecoder } from '../models/load.ts';
import { applyLora, parseLoraSpec } from '../models/lora.ts';
import { resolveEos } from '../tokenizers/eos.ts';
import { loadTokenizer } from '../tokenizers/load.ts';
import { AdamW } from '../train/adamw.ts';
import { lmTask, trainLoop } from '../train/loop.ts';
import { loraSummary, loraTask } from '../train/lora.ts';
import { buildExample, type ChatMessage, parseSftJsonl, type RenderChat, SftBatches } from '../train/sft.ts';
import { optInt, optNumber, optString, parseArgs, UsageError } from './args.ts';
import { TRAIN_VALUES } from './pretrain.ts';
import { LOOP_FLAGS, runOptions } from './train_options.ts';

export const USAGE =
  'usage: xfmr sft --model DIR --data FILE.jsonl --out DIR [--max-len N] [--held-out F] [--lora SPEC] [--no-template] [--json]\n' +
  `  training options (each takes a value): ${TRAIN_VALUES.map((v) => `--${v}`).join(', ')}`;

export async function run(argv: string[]): Promise<void> {
  const a = parseArgs(argv, {
    values: ['model', 'data', 'out', 'max-len', 'held-out', 'lora', ...TRAIN_VALUES],
    flags: [...LOOP_FLAGS, 'json', 'no-template'],
  });
  const dir = optString(a, 'model');
  const dataFile = optString(a, 'data');
  const out = optString(a, 'out');
  if (!dir || !dataFile || !out) throw new UsageError(USAGE);
  const loraSpec = optString(a, 'lora');
  const lora = loraSpec === undefined ? null : parseLoraSpec(loraSpec, '--lora');
  // A LoRA base keeps the dtype it is stored in (it is never updated); full training needs f32.
  const { model, chatTemplate, tokenizerJson } = loadDecoder(dir, lora ? { dtype: 'auto' } : {});
  const tok = loadTokenizer(dir);
  const eos = resolveEos({ dir, tokenizer: tok, vocabSize: model.config.vocabSize })[0] ?? null;
  let render: RenderChat | undefined;
  if (chatTemplate && !a.options.has('no-template')) {
    const { renderChat } = (await import('../tokenizers/chat_template.ts')) as {
      renderChat: (t: string, m: ChatMessage[], o: { addGenerationPrompt?: boolean }) => string;
    };
    render = (messages, gen) => renderChat(chatTemplate, messages, { addGenerationPrompt: gen });
  }
  let text: string;
  try {
    text = readFileSync(dataFile, 'utf8');
  } catch (e) {
    throw new Error(`--data ${dataFile}: ${(e as Error).message}`);
  }
  const rows = parseSftJsonl(text, dataFile);
  const maxLen = optInt(a, 'max-len', model.config.contextLength);
  if (maxLen > model.config.contextLength)
    throw new UsageError(`--max-len ${maxLen} exceeds the context length ${model.config.contextLength}`);
  const examples = rows.map((r) => buildExample(r, tok, eos, render));
  const nHeld = Math.floor(examples.length * optNumber(a, 'held-out', 0.05));
  const seed = optInt(a, 'seed', 1337);
  const B = optInt(a, 'batch-size', 16);
  const data = new SftBatches(examples.slice(nHeld), B, maxLen, seed, examples.slice(0, nHeld));
  const steps = optInt(a, 'steps', 500);
  const lr = optNumber(a, 'lr', 1e-4);
  model.config.dropout = optNumber(a, 'dropout', model.config.dropout);
  const baseParams = model.numParameters();
  const adapters = lora ? applyLora(model, lora, seed) : null;
  if (adapters) process.stderr.write(`xfmr sft: ${loraSummary(adapters, baseParams)}\n`);
  const opt = new AdamW((adapters ?? model).parameters(), {
    lr,
    weightDecay: optNumber(a, 'weight-decay', 0),
  });
  const task = adapters ? loraTask(lmTask(model, data), adapters, dir) : lmTask(model, data);
  process.stderr.write(
    `xfmr sft: ${examples.length - nHeld} train / ${nHeld} held-out examples, B=${B}, ${steps} steps\n`,
  );
  const result = await trainLoop(task, opt, {
    ...runOptions(a, out, 100),
    steps,
    gradAccum: optInt(a, 'grad-accum', 1),
    schedule: {
      lr,
      minLr: optNumber(a, 'min-lr', lr / 10),
      warmupSteps: optInt(a, 'warmup', Math.min(50, Math.floor(steps / 10))),
      totalSteps: steps,
    },
    evalEvery: optInt(a, 'eval-every', 100),
    tokenizerJson: tokenizerJson as JsonValue | undefined,
    chatTemplate,
  });
  const summary = {
    out,
    steps,
    start_step: result.startStep,
    dtype: result.dtype,
    final_loss: result.losses.at(-1) ?? null,
    val_loss: result.evals.at(-1)?.val_loss ?? null,
  };
  if (a.options.has('json')) process.stdout.write(`${JSON.stringify(summary)}\n`);
  else
    process.stdout.write(
      `fine-tuned to step ${steps}: loss ${summary.final_loss?.toFixed(4)}; ${adapters ? 'adapter' : 'model'} in ${out}\n`,
    );
}
