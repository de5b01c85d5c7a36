/**
 * sentence-transformers directories as the Hub ships them, loaded as they are, against float64
 * PyTorch references of sentence-transformers' pipeline (scripts/fixtures/make_st_fixtures.py):
 * all-MiniLM-L6-v2's layout (mean + Normalize, max_seq_length below the position table),
 * bge-small-en-v1.5's (CLS + Normalize, query instruction, `bert.` names), e5-small-v2's (mean,
 * "query: " / "passage: "), and a Dense one (0_Transformer/, max + mean_sqrt_len concatenated,
 * Dense Tanh, no Normalize, do_lower_case with a cased tokenizer, default_prompt_name).
 *
 * Bound: the reference is float64 of the same float32 weights; xfmr computes in float32 through
 * 2 post-norm layers (LayerNorm eps 1e-12 divides by a std that random weights keep near 1), so
 * each value carries a few float32 roundings of O(1) numbers, ~1e-7 relative; measured max 8e-7.
 * We allow max|a - b| / max|b| <= 1e-5. A wrong pooling, a prompt on the wrong kind, a missed
 * Dense or Normalize, or a pad row leaking into a batch exceed it by orders of magnitude; tanh
 * instead of erf GELU (measured 9e-5 at the least) by nine times.
 */
import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { Tokenizer as HfTokenizer } from 'tokenizers';
import type { Pooling } from '../../src/models/encoder.ts';
import { createEmbedder } from '../../src/rag/embedder.ts';
import { EncoderEmbedder } from '../../src/rag/encoder_embedder.ts';
import { readStLayout } from '../../src/rag/sentence_transformers.ts';
import { relErr } from '../models/rel_err.ts';

const FIXTURES = new URL('./fixtures/', import.meta.url).pathname;
const BOUND = 1e-5;

interface Case {
  text: string;
  kind: 'query' | 'passage';
  ids: number[];
  embedding: number[];
  pools?: Record<Pooling, number[]>;
}
interface Fixture {
  dir: string;
  maxSeqLength: number;
  queryPrompt: string;
  passagePrompt: string;
  normalize: boolean;
  pooling: Pooling[];
  doLowerCase: boolean;
  dim: number;
  cases: Case[];
}
const golden = JSON.parse(readFileSync(join(FIXTURES, 'st_golden.json'), 'utf8')) as { fixtures: Fixture[] };
const dirOf = (f: Fixture) => join(FIXTURES, 'st', f.dir);
const fixture = (name: string) => golden.fixtures.find((f) => f.dir === name)!;

const unit = (v: ArrayLike<number>): Float32Array => {
  const n = Math.hypot(...Array.from(v));
  return Float32Array.from(v, (x) => x / n);
};

const tmp = mkdtempSync(join(tmpdir(), 'xfmr-st-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

for (const f of golden.fixtures) {
  describe(`sentence-transformers directory: ${f.dir}`, () => {
    const e = EncoderEmbedder.load({ dir: dirOf(f) });

    test('the pipeline is read from the directory', () => {
      assert.deepEqual(e.pooling, f.pooling);
      assert.equal(e.layout.normalize, f.normalize);
      assert.equal(e.layout.doLowerCase, f.doLowerCase);
      assert.equal(e.queryPrefix, f.queryPrompt);
      assert.equal(e.passagePrefix, f.passagePrompt);
      assert.equal(e.maxSeqLength, f.maxSeqLength);
      assert.equal(e.dim, f.dim);
      // chunks are sized so that a passage with its prompt and [CLS] [SEP] is never truncated
      assert.ok(e.maxTokens + 2 + e.countTokens(e.passagePrefix) <= f.maxSeqLength);
    });

    test('token ids (prompt, lowercasing, [CLS] ... [SEP], truncation) match the reference', () => {
      for (const c of f.cases) assert.deepEqual([...e.ids(c.text, c.kind)], c.ids, `${c.kind}: ${c.text}`);
      assert.ok(f.cases.some((c) => c.ids.length === f.maxSeqLength));
    });

    test('token ids match Hugging Face tokenizers truncating at max_seq_length, as sentence-transformers calls it', async () => {
      const tdir = readStLayout(dirOf(f)).transformerDir;
      const hf = HfTokenizer.fromFile(join(tdir, 'tokenizer.json'));
      hf.setTruncation(f.maxSeqLength);
      hf.disablePadding();
      const hard = [
        ...f.cases.map((c) => ({ text: c.text, kind: c.kind })),
        { text: 'ÉCOLE naïve\tCafé\u0000 中文字 x—y', kind: 'passage' as const },
        { text: `${'a'.repeat(120)} storesx STORES`, kind: 'query' as const },
        { text: '', kind: 'query' as const },
      ];
      for (const { text, kind } of hard) {
        const prompt = kind === 'query' ? f.queryPrompt : f.passagePrompt;
        const input = f.doLowerCase ? (prompt + text).toLowerCase() : prompt + text;
        const want = (await hf.encode(input)).getIds();
        assert.deepEqual([...e.ids(text, kind)], want, `${kind}: ${JSON.stringify(text)}`);
      }
    });

    test(`encode matches sentence-transformers (float64 PyTorch, padded batch) within ${BOUND} relative`, () => {
      for (const kind of ['query', 'passage'] as const) {
        const cases = f.cases.filter((c) => c.kind === kind);
        const vs = e.encode(
          cases.map((c) => c.text),
          kind,
        );
        cases.forEach((c, i) => {
          assert.equal(vs[i].length, f.dim);
          const err = relErr(vs[i], Float32Array.from(c.embedding));
          assert.ok(err <= BOUND, `${kind} "${c.text}": relative error ${err}`);
        });
      }
    });

    test('embed returns the unit vectors of encode, one text alone as in a batch', async () => {
      const texts = f.cases.filter((c) => c.kind === 'passage');
      const batch = await e.embed(
        texts.map((c) => c.text),
        'passage',
      );
      for (const [i, c] of texts.entries()) {
        assert.ok(Math.abs(Math.hypot(...batch[i]) - 1) < 1e-6);
        assert.ok(relErr(batch[i], unit(c.embedding)) <= BOUND);
        const [alone] = await e.embed([c.text], 'passage');
        assert.ok(relErr(alone, batch[i]) <= BOUND, 'packing with other texts changes nothing');
      }
    });
  });
}

test('prompts: the query prompt for questions, the passage prompt for chunks, none where none is declared', async () => {
  const text = 'How does the write-ahead log work?';
  for (const f of golden.fixtures) {
    const e = EncoderEmbedder.load({ dir: dirOf(f) });
    const q = f.cases.find((c) => c.kind === 'query' && c.text === text)!;
    const p = f.cases.find((c) => c.kind === 'passage' && c.text === text)!;
    const bare = EncoderEmbedder.load({ dir: dirOf(f), queryPrefix: '', passagePrefix: '' }).ids(
      text,
      'query',
    );
    const promptIds = (prompt: string) => {
      const ids = e.tokenizer.encode(f.doLowerCase ? prompt.toLowerCase() : prompt, {
        addSpecialTokens: false,
      });
      return [bare[0], ...ids, ...bare.slice(1)];
    };
    assert.deepEqual(q.ids, promptIds(f.queryPrompt), `${f.dir} query`);
    assert.deepEqual(p.ids, promptIds(f.passagePrompt), `${f.dir} passage`);
    const [vq] = await e.embed([text], 'query');
    const [vp] = await e.embed([text], 'passage');
    if (f.queryPrompt === f.passagePrompt) assert.deepEqual(vq, vp, `${f.dir}: one prompt for both`);
    else assert.ok(relErr(vq, vp) > 1e-3, `${f.dir}: the prompts change the vectors`);
  }
  assert.equal(fixture('bge').passagePrompt, '', 'bge: passages get no instruction');
  assert.equal(fixture('minilm').queryPrompt, '');
  assert.equal(fixture('dense').queryPrompt, 'search: ', 'dense: default_prompt_name applies to both kinds');
});

test('every pooling mode matches sentence-transformers Pooling on the same hidden states', async () => {
  const f = fixture('minilm');
  const modes = Object.keys(f.cases[0].pools!) as Pooling[];
  assert.equal(modes.length, 6);
  for (const m of modes) {
    const e = createEmbedder({ type: 'encoder', dir: dirOf(f), pooling: m });
    const cases = f.cases.filter((c) => c.kind === 'passage');
    const vs = await e.embed(
      cases.map((c) => c.text),
      'passage',
    );
    cases.forEach((c, i) => {
      const err = relErr(vs[i], unit(c.pools![m]));
      assert.ok(err <= BOUND, `${m} "${c.text}": relative error ${err}`);
    });
  }
  // concatenated modes, in sentence-transformers' order whatever order they are given in
  const both = EncoderEmbedder.load({ dir: dirOf(f), pooling: ['mean', 'cls'] });
  assert.equal(both.dim, 64);
  assert.deepEqual(both.pooling, ['cls', 'mean']);
  const c = f.cases[6];
  const [v] = both.encode([c.text], 'passage');
  assert.ok(relErr(v, unit([...c.pools!.cls, ...c.pools!.mean])) <= BOUND);
});

test('texts longer than max_seq_length are truncated and counted', () => {
  const e = EncoderEmbedder.load({ dir: dirOf(fixture('minilm')) });
  assert.equal(e.truncated, 0);
  const long = 'the database file '.repeat(20);
  const ids = e.ids(long, 'passage');
  assert.equal(ids.length, 16);
  assert.equal(ids[15], e.ids('', 'passage')[1], 'the final [SEP] is kept');
  assert.equal(e.truncated, 1);
  e.ids('x', 'passage');
  assert.equal(e.truncated, 1);
});

/** A copy of a fixture directory with one file replaced (or removed when content is null). */
function variant(name: string, file: string, content: unknown): string {
  const dir = join(tmp, `${name}-${Math.random().toString(36).slice(2)}`);
  cpSync(dirOf(fixture(name)), dir, { recursive: true });
  if (content === null) rmSync(join(dir, file));
  else writeFileSync(join(dir, file), typeof content === 'string' ? content : JSON.stringify(content));
  return dir;
}

test('unknown or malformed configuration is refused, naming the file and the field', () => {
  const cst = 'config_sentence_transformers.json';
  const load = (dir: string) => () => EncoderEmbedder.load({ dir });
  assert.throws(
    load(variant('e5', cst, { prompts: ['query: '] })),
    /config_sentence_transformers\.json: prompts must be an object/,
  );
  assert.throws(
    load(variant('e5', cst, { prompts: { query: 3 } })),
    /config_sentence_transformers\.json: prompts\.query must be a string/,
  );
  assert.throws(
    load(variant('e5', cst, { prompts: { query: 'q: ' }, default_prompt_name: 'doc' })),
    /config_sentence_transformers\.json: default_prompt_name "doc" is not one of prompts \(query\)/,
  );
  assert.throws(load(variant('e5', cst, '{"prompts": ')), /config_sentence_transformers\.json: invalid JSON/);
  const modules = JSON.parse(readFileSync(join(dirOf(fixture('e5')), 'modules.json'), 'utf8'));
  assert.throws(
    load(
      variant('e5', 'modules.json', [
        ...modules,
        { idx: 3, path: '3_LayerNorm', type: 'sentence_transformers.models.LayerNorm' },
      ]),
    ),
    /modules\.json: module 3 type "sentence_transformers\.models\.LayerNorm" is not supported/,
  );
  assert.throws(
    load(variant('e5', 'modules.json', [modules[1], modules[0]])),
    /modules\.json: modules Pooling, Transformer are not in a supported order/,
  );
  const pool = JSON.parse(readFileSync(join(dirOf(fixture('e5')), '1_Pooling', 'config.json'), 'utf8'));
  assert.throws(
    load(variant('e5', '1_Pooling/config.json', { ...pool, pooling_mode_mean_tokens: false })),
    /1_Pooling\/config\.json: no pooling_mode_\* is true/,
  );
  assert.throws(
    load(variant('e5', '1_Pooling/config.json', { ...pool, pooling_mode_fancy_tokens: true })),
    /1_Pooling\/config\.json: pooling_mode_fancy_tokens is not supported/,
  );
  assert.throws(
    load(variant('e5', '1_Pooling/config.json', { ...pool, include_prompt: false })),
    /1_Pooling\/config\.json: include_prompt false .* is not supported/,
  );
  assert.throws(
    load(variant('e5', 'sentence_bert_config.json', { max_seq_length: '512' })),
    /sentence_bert_config\.json: max_seq_length must be a positive integer/,
  );
  const dense = JSON.parse(readFileSync(join(dirOf(fixture('dense')), '2_Dense', 'config.json'), 'utf8'));
  assert.throws(
    load(
      variant('dense', '2_Dense/config.json', {
        ...dense,
        activation_function: 'torch.nn.modules.activation.ReLU',
      }),
    ),
    /2_Dense\/config\.json: activation_function "torch\.nn\.modules\.activation\.ReLU" is not supported/,
  );
  assert.throws(
    load(variant('dense', '2_Dense/config.json', { ...dense, in_features: 32 })),
    /2_Dense\/model\.safetensors: linear\.weight has shape \[16,64\], expected \[16,32\]/,
  );
  assert.throws(
    () => EncoderEmbedder.load({ dir: dirOf(fixture('dense')), pooling: ['cls', 'max', 'mean'] }),
    /2_Dense\/config\.json: in_features 64 but the vector before it has 96/,
  );
  const pickled = variant('dense', '2_Dense/config.json', dense);
  renameSync(join(pickled, '2_Dense', 'model.safetensors'), join(pickled, '2_Dense', 'pytorch_model.bin'));
  assert.throws(load(pickled), /2_Dense: the Dense weights are in pytorch_model\.bin/);
});

test('a directory without modules.json loads as before: 1_Pooling if any, no prompts', () => {
  const dir = variant('bge', 'modules.json', null);
  rmSync(join(dir, 'config_sentence_transformers.json'));
  const e = EncoderEmbedder.load({ dir });
  assert.deepEqual(e.pooling, ['cls']);
  assert.equal(e.queryPrefix, '');
  assert.equal(e.layout.declared, false);
});
