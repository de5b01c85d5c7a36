/**
 * Chat templates (untrusted: a model directory's chat_template.jinja). Templates are generated from
 * a small Jinja grammar (loops, conditions, set, macros, filters, attribute access, string
 * concatenation, range with small to absurd bounds) plus escape attempts (constructor,
 * __proto__, calling what they reach), rendered by renderChat with awkward messages.
 * Clean: an Error whose message starts "chat template". Checked after each render: nothing leaked
 * out of the sandbox (a global and Object.prototype untouched).
 */
import fc from 'fast-check';
import { type ChatMessage, RENDER_LIMITS, renderChat } from '../../src/tokenizers/chat_template.ts';
import { type FuzzTarget, namedError } from '../target.ts';

const ESCAPES = [
  "messages.constructor.constructor('globalThis.XFMR_FUZZ_ESCAPED = 1')()",
  "''.constructor.constructor('globalThis.XFMR_FUZZ_ESCAPED = 1')()",
  'messages.__proto__.polluted',
  "messages[0].__proto__.constructor.assign(messages.__proto__, {'polluted': 1})",
  'range.constructor',
  'raise_exception.call',
  'namespace(a=1).constructor',
];

const ident = fc.constantFrom(
  'm',
  'x',
  'i',
  'messages',
  'loop',
  'ns',
  'bos_token',
  'add_generation_prompt',
  'f',
);
const bound = fc.oneof(
  { weight: 8, arbitrary: fc.integer({ min: -2, max: 8 }) },
  { weight: 1, arbitrary: fc.constantFrom(1e4, 1e6, 1e9, 2 ** 31, 1e300) },
);

const expr: fc.Arbitrary<string> = fc.letrec<{ e: string }>((tie) => ({
  e: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    ident,
    fc.string({ maxLength: 6 }).map((s) => JSON.stringify(s)),
    bound.map(String),
    fc.constantFrom(...ESCAPES),
    fc
      .tuple(tie('e'), fc.constantFrom('role', 'content', 'length', 'constructor', '__proto__', 'items', '0'))
      .map(([a, k]) => `${a}.${k}`),
    fc.tuple(tie('e'), tie('e')).map(([a, b]) => `${a}[${b}]`),
    fc
      .tuple(tie('e'), fc.constantFrom('~', '+', '*', '==', 'and', 'or', 'in', '//', '%'), tie('e'))
      .map(([a, o, b]) => `(${a} ${o} ${b})`),
    fc
      .tuple(
        tie('e'),
        fc.constantFrom(
          'length',
          'upper',
          'join',
          'tojson',
          'trim',
          'list',
          'reverse',
          'first',
          'string',
          'int',
        ),
      )
      .map(([a, f]) => `${a}|${f}`),
    fc.tuple(bound, bound).map(([a, b]) => `range(${a}, ${b})`),
    bound.map((n) => `range(${n})`),
    fc.tuple(tie('e'), tie('e')).map(([a, b]) => `${a}(${b})`),
  ),
})).e;

const stmt: fc.Arbitrary<string> = fc.letrec<{ s: string }>((tie) => ({
  s: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    expr.map((e) => `{{ ${e} }}`),
    fc.string({ maxLength: 8 }),
    fc
      .tuple(ident, expr, fc.array(tie('s'), { maxLength: 3 }))
      .map(([v, e, b]) => `{% for ${v} in ${e} %}${b.join('')}{% endfor %}`),
    fc.tuple(expr, tie('s'), tie('s')).map(([c, a, b]) => `{% if ${c} %}${a}{% else %}${b}{% endif %}`),
    fc.tuple(ident, expr).map(([v, e]) => `{% set ${v} = ${e} %}`),
    expr.map(
      (e) =>
        `{% set ns = namespace(s=${e}) %}{% for i in range(40) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}`,
    ),
    tie('s').map((b) => `{% macro f(x) %}${b}{{ f(x) }}{% endmacro %}{{ f(1) }}`),
    fc.constantFrom('{% for', '{{', '{% endfor %}', '{# x', '{% raw %}', '{%- if -%}'),
  ),
})).s;

const message: fc.Arbitrary<ChatMessage> = fc.record({
  role: fc.constantFrom('system', 'user', 'assistant', 'tool', ''),
  content: fc.oneof(
    fc.string({ maxLength: 20 }),
    fc.constant(null),
    fc.constant([{ type: 'text', text: 'hi' }]),
  ),
});

interface TemplateInput {
  template: string;
  messages: ChatMessage[];
  addGenerationPrompt: boolean;
}

export const chatTemplateTarget: FuzzTarget<TemplateInput> = {
  name: 'chat_template',
  what: 'an untrusted chat_template.jinja -> renderChat (time-bounded, sandboxed)',
  // Tighter limits than the default (2 s, 100k range items), so that templates that hit them cost
  // little fuzzing time; the bound checked is then 40x the render limit.
  hangMs: 1000,
  setup() {
    Object.assign(RENDER_LIMITS, { ms: 5, rangeItems: 2_000 });
  },
  teardown() {
    Object.assign(RENDER_LIMITS, { ms: 2000, rangeItems: 100_000 });
  },
  arbitrary: fc.record({
    template: fc.array(stmt, { minLength: 1, maxLength: 4 }).map((s) => s.join('')),
    messages: fc.array(message, { maxLength: 4 }),
    addGenerationPrompt: fc.boolean(),
  }),
  run(input) {
    try {
      renderChat(input.template, input.messages, { addGenerationPrompt: input.addGenerationPrompt });
    } finally {
      const g = globalThis as Record<string, unknown>;
      if (
        g.XFMR_FUZZ_ESCAPED !== undefined ||
        (Object.prototype as Record<string, unknown>).polluted !== undefined
      ) {
        delete g.XFMR_FUZZ_ESCAPED;
        delete (Object.prototype as Record<string, unknown>).polluted;
        // biome-ignore lint/correctness/noUnsafeFinally: an escape outranks whatever render threw
        throw new TypeError('the template escaped its sandbox');
      }
    }
  },
  clean: (e) => (e instanceof Error && /^chat template/.test(e.message) ? namedError(e) : namedError(e, '^')),
};
