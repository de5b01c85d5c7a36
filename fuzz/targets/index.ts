/** Every fuzz target, in the order `npm run fuzz` runs them. */
import type { FuzzTarget } from '../target.ts';
import { chatTemplateTarget } from './chat_template.ts';
import { configJsonTarget } from './config_json.ts';
import { ggufTarget } from './gguf.ts';
import { httpTarget } from './http.ts';
import { jsonlTarget } from './jsonl.ts';
import { kernelsTarget } from './kernels.ts';
import { ragLoadersTarget } from './rag_loaders.ts';
import { safetensorsTarget } from './safetensors.ts';
import { tokenizerJsonTarget } from './tokenizer_json.ts';

export const TARGETS: readonly FuzzTarget<never>[] = [
  safetensorsTarget,
  ggufTarget,
  configJsonTarget,
  tokenizerJsonTarget,
  jsonlTarget,
  chatTemplateTarget,
  ragLoadersTarget,
  httpTarget,
  kernelsTarget,
] as unknown as FuzzTarget<never>[];
