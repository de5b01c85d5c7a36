// Chat templates rendered with @huggingface/jinja: a ChatML template and a Llama-3 template written
// here, the real templates shipped in tokenizer_config.json files, and where templates are found.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import {
  type ChatMessage,
  loadChatTemplate,
  RENDER_LIMITS,
  renderChat,
} from '../../src/tokenizers/chat_template.ts';
import { loadTokenizerJson } from '../../src/tokenizers/tokenizer_json.ts';
import { REAL_FILES, readJson, TOKENIZER_CONFIGS } from './hf_helpers.ts';

const CHATML =
  "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}{% endfor %}" +
  "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";

const LLAMA3 =
  "{{ bos_token }}{% for message in messages %}{{ '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n' + message['content'] | trim + '<|eot_id|>' }}{% endfor %}" +
  "{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}{% endif %}";

const MESSAGES: ChatMessage[] = [
  { role: 'system', content: 'You are terse.' },
  { role: 'user', content: 'Hi! 你好' },
  { role: 'assistant', content: 'Hello.' },
  { role: 'user', content: '  What is 2+2?  ' },
];

test('ChatML template, with and without the generation prompt', () => {
  const want =
    '<|im_start|>system\nYou are terse.<|im_end|>\n<|im_start|>user\nHi! 你好<|im_end|>\n' +
    '<|im_start|>assistant\nHello.<|im_end|>\n<|im_start|>user\n  What is 2+2?  <|im_end|>\n';
  assert.equal(renderChat(CHATML, MESSAGES), want);
  assert.equal(renderChat(CHATML, MESSAGES, { addGenerationPrompt: true }), `${want}<|im_start|>assistant\n`);
});

test('Llama 3 template: bos_token, trim filter, generation prompt', () => {
  const out = renderChat(LLAMA3, MESSAGES.slice(1), {
    addGenerationPrompt: true,
    bosToken: '<|begin_of_text|>',
  });
  assert.equal(
    out,
    '<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nHi! 你好<|eot_id|>' +
      '<|start_header_id|>assistant<|end_header_id|>\n\nHello.<|eot_id|>' +
      '<|start_header_id|>user<|end_header_id|>\n\nWhat is 2+2?<|eot_id|>' +
      '<|start_header_id|>assistant<|end_header_id|>\n\n',
  );
  // The rendered prompt encodes with its special tokens when they are allowed.
  const tok = loadTokenizerJson(REAL_FILES.llama3);
  const ids = tok.encode(out, { allowedSpecial: 'all', addSpecialTokens: false });
  assert.equal(ids[0], tok.tokenToId('<|begin_of_text|>'));
  assert.equal(ids.filter((id) => id === tok.tokenToId('<|eot_id|>')).length, 3);
  assert.equal(tok.decode(ids), out);
});

test('extra variables reach the template', () => {
  const t = '{% if enable_thinking %}think{% else %}no{% endif %}:{{ messages | length }}';
  assert.equal(renderChat(t, MESSAGES, { enable_thinking: true }), 'think:4');
  assert.equal(renderChat(t, MESSAGES), 'no:4');
});

test('real templates from tokenizer_config.json (Qwen 3, Gemma 3, Llama 3) render', () => {
  const qwen = loadChatTemplate(readJson(TOKENIZER_CONFIGS.qwen3));
  const q = renderChat(qwen.template, MESSAGES, { addGenerationPrompt: true, eosToken: qwen.eosToken });
  assert.ok(
    q.startsWith('<|im_start|>system\nYou are terse.<|im_end|>\n<|im_start|>user\nHi! 你好<|im_end|>\n'),
    q,
  );
  assert.ok(q.endsWith('<|im_start|>assistant\n'), q);

  const gemma = loadChatTemplate(readJson(TOKENIZER_CONFIGS.gemma3));
  assert.equal(gemma.bosToken, '<bos>');
  const g = renderChat(gemma.template, MESSAGES, { addGenerationPrompt: true, bosToken: gemma.bosToken });
  assert.ok(g.startsWith('<bos><start_of_turn>user\nYou are terse.\n\nHi! 你好<end_of_turn>\n'), g);
  assert.ok(g.endsWith('<start_of_turn>model\n'), g);

  const llama = loadChatTemplate(readJson(TOKENIZER_CONFIGS.llama3));
  const l = renderChat(llama.template, MESSAGES, { addGenerationPrompt: true, bosToken: llama.bosToken });
  assert.ok(
    l.startsWith('<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nYou are terse.<|eot_id|>'),
    l,
  );
});

test('loadChatTemplate: chat_template.jinja wins, then tokenizer_config.json; named templates; errors', () => {
  const dir = mkdtempSync(join(tmpdir(), 'xfmr-chat-'));
  try {
    assert.throws(() => loadChatTemplate(dir), /no chat template in/);
    writeFileSync(
      join(dir, 'tokenizer_config.json'),
      JSON.stringify({
        bos_token: { content: '<s>', lstrip: false },
        eos_token: '</s>',
        chat_template: [
          { name: 'default', template: CHATML },
          { name: 'tool_use', template: 'tools:{{ tools | length }}' },
        ],
      }),
    );
    const d = loadChatTemplate(dir);
    assert.equal(d.template, CHATML);
    assert.equal(d.bosToken, '<s>');
    assert.equal(d.eosToken, '</s>');
    assert.equal(renderChat(loadChatTemplate(dir, 'tool_use').template, [], { tools: [{}, {}] }), 'tools:2');
    assert.throws(
      () => loadChatTemplate(dir, 'rag'),
      /no chat template named "rag" \(have: default, tool_use\)/,
    );
    writeFileSync(join(dir, 'chat_template.jinja'), LLAMA3);
    const j = loadChatTemplate(dir);
    assert.equal(j.template, LLAMA3);
    assert.equal(j.bosToken, '<s>');
    assert.match(j.source, /chat_template\.jinja$/);
  } finally {
    rmSync(dir, { recursive: true });
  }
  assert.throws(() => loadChatTemplate({ chat_template: 42 }), /must be a string or a list/);
  assert.throws(() => renderChat('{% for %}', MESSAGES), /chat template does not parse/);
  assert.throws(
    () => renderChat(CHATML, [{ content: 'x' } as unknown as ChatMessage]),
    /messages\[0\]\.role must be a string/,
  );
});

// Found by `npm run fuzz` (target chat_template): an untrusted template could run for as long as it
// liked (range(10**9), a recursive macro) and its runtime errors came out unlabelled.
test('an untrusted template is bounded: huge ranges, endless recursion and slow loops stop with a clear error', () => {
  const cases: [string, RegExp][] = [
    [
      '{% for i in range(1000000000) %}{% endfor %}',
      /^chat template failed to render: range\(0, 1000000000, 1\) has more than 100000 items$/,
    ],
    [
      '{% macro f(x) %}{{ f(x) }}{% endmacro %}{{ f(1) }}',
      /^chat template nests deeper than 400 steps \(endless recursion\?\)$/,
    ],
    ['{{ messages|length|length }}', /^chat template failed to render: Unknown NumericValue filter: length$/],
    [
      "{{ raise_exception('no system role') }}",
      /^chat template failed to render: raise_exception: no system role$/,
    ],
  ];
  for (const [template, message] of cases) assert.throws(() => renderChat(template, MESSAGES), { message });
  // 1000 x 1000 iterations of an empty body: each range is allowed, the total is stopped by the clock.
  const saved = RENDER_LIMITS.ms;
  RENDER_LIMITS.ms = 50;
  try {
    const t0 = performance.now();
    assert.throws(
      () =>
        renderChat('{% for a in range(1000) %}{% for b in range(1000) %}{% endfor %}{% endfor %}', MESSAGES),
      { message: /^chat template took longer than 50 ms to render \(stopped\)$/ },
    );
    // one clock look per 1024 steps of a few microseconds each: stopped well within 50 ms + 1 s
    assert.ok(performance.now() - t0 < 1050, `stopped after ${performance.now() - t0} ms`);
  } finally {
    RENDER_LIMITS.ms = saved;
  }
  // The sandbox: what a template reaches through constructor or __proto__ is undefined, not callable.
  assert.throws(
    () => renderChat("{{ messages.constructor.constructor('globalThis.escaped = 1')() }}", MESSAGES),
    { message: /^chat template failed to render: Cannot call something that is not a function/ },
  );
  assert.equal((globalThis as Record<string, unknown>).escaped, undefined);
  // The depth bound leaves room for real recursion: a macro 60 calls deep renders.
  assert.equal(
    renderChat(
      '{% macro f(n) %}{% if n > 0 %}{{ f(n - 1) }}{% endif %}{{ n }}{% endmacro %}{{ f(60) }}',
      MESSAGES,
    ),
    Array.from({ length: 61 }, (_, i) => String(i)).join(''),
  );
  // strftime_now still works (Llama 3.1's template dates its system prompt with it).
  assert.match(renderChat('{{ strftime_now("%d %b %Y") }}', MESSAGES), /^\d\d [A-Z][a-z]{2} \d{4}$/);
});
