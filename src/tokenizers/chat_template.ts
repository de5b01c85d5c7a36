/**
 * Chat templates: a model's Jinja template turns a list of messages into the prompt text it was
 * trained on, as `transformers`' `apply_chat_template` does. Rendered with `@huggingface/jinja`.
 *
 *   const { template, bosToken, eosToken } = loadChatTemplate('models/qwen3');
 *   const prompt = renderChat(template, [{ role: 'user', content: 'Hi' }],
 *                             { addGenerationPrompt: true, bosToken, eosToken });
 *   // "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"
 *
 * Where the template comes from (the Hugging Face model-directory layout):
 *   - `chat_template.jinja` in the directory (newer checkpoints), else
 *   - `chat_template` in `tokenizer_config.json`: a string, or a list of {name, template} (then the
 *     one named "default", or the name asked for, e.g. "tool_use").
 *
 * The rendered text contains special tokens written out ("<|im_start|>"); encode it with
 * `allowedSpecial: 'all'` (and usually `addSpecialTokens: false`, since templates write BOS
 * themselves).
 */

import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Template } from '@huggingface/jinja';

/** A chat message as templates read it (the fields real templates use; all are passed through). */
export interface ChatMessage {
  role: string;
  /** Text, or a list of parts ({type: "text", text}, {type: "image"}) for multimodal templates. */
  content?: string | null | readonly Record<string, unknown>[];
  name?: string;
  tool_calls?: readonly unknown[];
  tool_call_id?: string;
  reasoning_content?: string;
}

export interface RenderOptions {
  /** End with the header of an assistant turn, so the model writes the reply (default false). */
  addGenerationPrompt?: boolean;
  bosToken?: string;
  eosToken?: string;
  /** Other template variables, passed as given (e.g. tools, documents, enable_thinking). */
  [key: string]: unknown;
}

const compiled = new Map<string, Template>();

/** The prompt text for `messages` under a Jinja chat template. */
export function renderChat(
  template: string,
  messages: readonly ChatMessage[],
  options: RenderOptions = {},
): string {
  const { addGenerationPrompt, bosToken, eosToken, ...extra } = options;
  if (!Array.isArray(messages)) throw new Error('renderChat: messages must be an array');
  messages.forEach((m, i) => {
    if (typeof m !== 'object' || m === null || typeof m.role !== 'string') {
      throw new Error(`renderChat: messages[${i}].role must be a string`);
    }
  });
  let t = compiled.get(template);
  if (t === undefined) {
    try {
      t = new Template(template);
    } catch (e) {
      throw new Error(`chat template does not parse: ${(e as Error).message}`);
    }
    if (compiled.size > 64) compiled.clear();
    compiled.set(template, t);
  }
  return t.render({
    ...extra,
    messages,
    add_generation_prompt: addGenerationPrompt ?? false,
    bos_token: bosToken ?? '',
    eos_token: eosToken ?? '',
  });
}

export interface LoadedChatTemplate {
  template: string;
  /** BOS / EOS strings from tokenizer_config.json, where it names them. */
  bosToken?: string;
  eosToken?: string;
  /** Where the template came from. */
  source: string;
}

/** `"x"` or `{"content": "x", ...}` (both appear as bos_token / eos_token). */
function tokenString(v: unknown): string | undefined {
  if (typeof v === 'string') return v;
  if (typeof v === 'object' && v !== null && typeof (v as { content?: unknown }).content === 'string') {
    return (v as { content: string }).content;
  }
  return undefined;
}

/**
 * The chat template of a model directory (see the header), or of a parsed tokenizer_config.json
 * object. `name` picks one of several named templates (default "default").
 */
export function loadChatTemplate(
  dirOrConfig: string | Record<string, unknown>,
  name = 'default',
): LoadedChatTemplate {
  let config: Record<string, unknown> = {};
  let where = 'tokenizer_config.json';
  let jinja: string | undefined;
  if (typeof dirOrConfig === 'string') {
    const cfgPath = join(dirOrConfig, 'tokenizer_config.json');
    if (existsSync(cfgPath)) {
      try {
        config = JSON.parse(readFileSync(cfgPath, 'utf8'));
      } catch (e) {
        throw new Error(`${cfgPath} is not valid JSON: ${(e as Error).message}`);
      }
      where = cfgPath;
    }
    const jinjaPath = join(dirOrConfig, 'chat_template.jinja');
    if (existsSync(jinjaPath)) {
      jinja = readFileSync(jinjaPath, 'utf8');
      where = jinjaPath;
    }
  } else {
    config = dirOrConfig;
  }
  const bosToken = tokenString(config.bos_token);
  const eosToken = tokenString(config.eos_token);
  if (jinja !== undefined) return { template: jinja, bosToken, eosToken, source: where };
  const ct = config.chat_template;
  if (typeof ct === 'string') return { template: ct, bosToken, eosToken, source: where };
  if (Array.isArray(ct)) {
    const names: string[] = [];
    for (const [i, entry] of ct.entries()) {
      const e = entry as { name?: unknown; template?: unknown };
      if (typeof e?.name !== 'string' || typeof e.template !== 'string') {
        throw new Error(`${where}: chat_template[${i}] must be {"name": string, "template": string}`);
      }
      names.push(e.name);
      if (e.name === name) return { template: e.template, bosToken, eosToken, source: `${where} (${name})` };
    }
    throw new Error(`${where}: no chat template named "${name}" (have: ${names.join(', ')})`);
  }
  if (ct !== undefined && ct !== null)
    throw new Error(`${where}: chat_template must be a string or a list of named templates`);
  throw new Error(
    typeof dirOrConfig === 'string'
      ? `no chat template in ${dirOrConfig} (neither chat_template.jinja nor chat_template in tokenizer_config.json)`
      : 'tokenizer_config.json has no chat_template',
  );
}
