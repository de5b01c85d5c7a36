/**
 * Preference and prompt JSONL: the three TRL row forms, errors that name the line, and token ids
 * with and without a chat template (the response is exactly what follows the generation prompt).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CharTokenizer } from '../../src/tokenizers/char.ts';
import { renderChat } from '../../src/tokenizers/chat_template.ts';
import {
  buildPreferenceExample,
  encodePrompt,
  parsePreferenceJsonl,
  parsePromptJsonl,
  preferenceRows,
} from '../../src/train/preference_data.ts';
import type { RenderChat } from '../../src/train/sft.ts';

const tok = CharTokenizer.train(
  ['abcdefghijklmnopqrstuvwxyz :<>|\n'],
  ['<eos>', '<|im_start|>', '<|im_end|>'],
);
const EOS = tok.specialTokens.get('<eos>') as number;

test('the three row forms parse to prompt, chosen and rejected', () => {
  const rows = parsePreferenceJsonl(
    [
      '{"prompt": "hi", "chosen": "good", "rejected": "bad"}',
      '',
      '{"prompt": [{"role": "user", "content": "hi"}], "chosen": [{"role": "assistant", "content": "a"}], "rejected": [{"role": "assistant", "content": "b"}]}',
      '{"chosen": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}], "rejected": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "b"}]}',
    ].join('\n'),
  );
  assert.equal(rows.length, 3);
  assert.deepEqual(rows[0], {
    prompt: [{ role: 'user', content: 'hi' }],
    chosen: { role: 'assistant', content: 'good' },
    rejected: { role: 'assistant', content: 'bad' },
    plain: true,
  });
  assert.equal(rows[1].plain, false);
  assert.deepEqual(rows[2].prompt, [{ role: 'user', content: 'q' }]);
  assert.equal(rows[2].rejected.content, 'b');
});

test('bad rows name their line', () => {
  assert.throws(
    () => parsePreferenceJsonl('{"prompt": "x", "chosen": "y"}', 'p.jsonl'),
    /p\.jsonl:1: expected "chosen"/,
  );
  assert.throws(() => parsePreferenceJsonl('\n{oops', 'p.jsonl'), /p\.jsonl:2: invalid JSON/);
  assert.throws(
    () =>
      parsePreferenceJsonl(
        '{"chosen": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}], "rejected": [{"role": "user", "content": "other"}, {"role": "assistant", "content": "b"}]}',
      ),
    /same conversation/,
  );
  assert.throws(() => parsePromptJsonl('{"text": "x"}', 'q.jsonl'), /q\.jsonl:1/);
});

test('without a template: prompt text, then the response and EOS', () => {
  const [row] = parsePreferenceJsonl('{"prompt": "ab", "chosen": "cd", "rejected": "e"}');
  const ex = buildPreferenceExample(row, { tok, eosId: EOS });
  assert.deepEqual(ex.prompt, tok.encode('ab'));
  assert.deepEqual(ex.chosen, [...tok.encode('cd'), EOS]);
  assert.deepEqual(ex.rejected, [...tok.encode('e'), EOS]);
  const rows = preferenceRows([ex]);
  assert.deepEqual(
    rows.map((r) => r.response),
    [ex.chosen, ex.rejected],
  );
});

test('with a chat template: the prompt ends with the generation prompt, the response is the rest', () => {
  const template =
    '{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}';
  const render: RenderChat = (m, gen) => renderChat(template, m, { addGenerationPrompt: gen });
  const [row] = parsePreferenceJsonl('{"prompt": "hi", "chosen": "yes", "rejected": "no"}');
  const ex = buildPreferenceExample(row, { tok, eosId: EOS, render });
  const prefix = '<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n';
  assert.deepEqual(ex.prompt, tok.encode(prefix, { allowedSpecial: 'all' }));
  assert.deepEqual(ex.chosen, tok.encode('yes<|im_end|>\n', { allowedSpecial: 'all' }));
  const [p] = parsePromptJsonl('{"messages": [{"role": "user", "content": "hi"}]}');
  assert.deepEqual(encodePrompt(p, { tok, eosId: EOS, render }), ex.prompt);
});
