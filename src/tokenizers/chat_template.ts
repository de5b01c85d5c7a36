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
 *
 * A template is untrusted input (it comes with a downloaded model). The Jinja interpreter is a
 * sandbox already (no JS evaluation; `constructor` and `__proto__` read as undefined), but it will
 * run a loop over `range(10**9)` or a recursive macro for as long as asked. So rendering is bounded:
 * `range` refuses more than RENDER_LIMITS.rangeItems items, the whole render stops after
 * RENDER_LIMITS.ms, and every failure inside the template comes out as one Error starting
 * "chat template" (`npm run fuzz`, target chat_template, found the hang and the unwrapped errors).
 */

import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Environment, Interpreter, Template } from '@huggingface/jinja';

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

/** Bounds on one render (real templates take well under a millisecond and a few dozen items). */
export const RENDER_LIMITS = { ms: 2000, rangeItems: 100_000, depth: 400 };

/** Work (interpreter steps, range items) between two looks at the clock. */
const CLOCK_EVERY = 1024;

/** The work of one render: steps and range items count alike; the clock is read every CLOCK_EVERY. */
class RenderBudget {
  private work = 0;
  private nextLook = CLOCK_EVERY;
  private readonly deadline = performance.now() + RENDER_LIMITS.ms;
  spend(n: number): void {
    this.work += n;
    if (this.work < this.nextLook) return;
    this.nextLook = this.work + CLOCK_EVERY;
    if (performance.now() > this.deadline)
      throw new Error(`chat template took longer than ${RENDER_LIMITS.ms} ms to render (stopped)`);
  }
  /** Jinja's range(), refusing more than RENDER_LIMITS.rangeItems items. */
  range = (start: number, stop?: number, step = 1): number[] => {
    if (stop === undefined) [start, stop] = [0, start];
    if (step === 0) throw new Error('range() step must not be zero');
    const n = Math.max(0, Math.ceil((stop - start) / step));
    if (!(n <= RENDER_LIMITS.rangeItems))
      throw new Error(`range(${start}, ${stop}, ${step}) has more than ${RENDER_LIMITS.rangeItems} items`);
    this.spend(n);
    return Array.from({ length: n }, (_, i) => start + i * step);
  };
}

// The package's index.d.ts re-exports its runtime without a file extension, which NodeNext
// resolution cannot follow: the two members used here, typed by hand.
interface JinjaEnvironment {
  set(name: string, value: unknown): unknown;
}
interface JinjaInterpreter {
  run(program: Template['parsed']): { value: unknown };
  evaluate(statement: unknown, environment: unknown): unknown;
}
const InterpreterBase = Interpreter as unknown as new (env: JinjaEnvironment) => JinjaInterpreter;

/**
 * The interpreter with a budget: every step spends one unit, and steps nest at most
 * RENDER_LIMITS.depth deep. Without the depth bound an endless recursive macro ran until the clock
 * or V8's stack stopped it, and unwinding thousands of frames cost far more than the render limit.
 */
class BoundedInterpreter extends InterpreterBase {
  private depth = 0;
  constructor(
    env: JinjaEnvironment,
    private readonly budget: RenderBudget,
  ) {
    super(env);
  }
  override evaluate(statement: unknown, environment: unknown): unknown {
    this.budget.spend(1);
    if (this.depth >= RENDER_LIMITS.depth)
      throw new Error(`chat template nests deeper than ${RENDER_LIMITS.depth} steps (endless recursion?)`);
    this.depth++;
    try {
      return super.evaluate(statement, environment);
    } finally {
      this.depth--;
    }
  }
}

const MONTHS = 'January February March April May June July August September October November December'.split(
  ' ',
);
const pad2 = (n: number): string => String(n).padStart(2, '0');

/** Python's time.strftime for the directives chat templates use (Llama 3's "%d %b %Y"), C locale. */
function strftimeNow(format: string): string {
  const d = new Date();
  const fields: Record<string, string> = {
    Y: String(d.getFullYear()),
    m: pad2(d.getMonth() + 1),
    d: pad2(d.getDate()),
    b: MONTHS[d.getMonth()]!.slice(0, 3),
    B: MONTHS[d.getMonth()]!,
    H: pad2(d.getHours()),
    M: pad2(d.getMinutes()),
    S: pad2(d.getSeconds()),
    '%': '%',
  };
  return String(format).replace(/%(.)/g, (all, c: string) => fields[c] ?? all);
}

/** Template.render, with the globals it sets up (range bounded) and the bounded interpreter. */
function renderBounded(t: Template, items: Record<string, unknown>): string {
  const env = new Environment() as JinjaEnvironment;
  const budget = new RenderBudget();
  const globals: Record<string, unknown> = {
    false: false,
    true: true,
    none: null,
    False: false,
    True: true,
    None: null,
    raise_exception: (message: unknown) => {
      throw new Error(`raise_exception: ${String(message)}`);
    },
    range: budget.range,
    strftime_now: strftimeNow,
  };
  for (const [k, v] of Object.entries(globals)) env.set(k, v);
  for (const [k, v] of Object.entries(items)) if (!(k in globals)) env.set(k, v);
  const result = new BoundedInterpreter(env, budget).run(t.parsed);
  return String(result.value);
}

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
  try {
    return renderBounded(t, {
      ...extra,
      messages,
      add_generation_prompt: addGenerationPrompt ?? false,
      bos_token: bosToken ?? '',
      eos_token: eosToken ?? '',
    });
  } catch (e) {
    // A template's raise_exception("...") is its own message to the user: keep it readable.
    const message = e instanceof Error ? e.message : String(e);
    if (message.startsWith('chat template')) throw e;
    throw new Error(`chat template failed to render: ${message}`);
  }
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
