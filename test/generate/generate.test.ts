/**
 * The generation loop on fake models: prefill then one token per step, per-sequence stopping
 * (EOS, stop strings across tokens, exactly max new tokens), streaming whole characters, batches
 * of unequal prompts equal to each prompt alone, and each sampling option wired through.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  type GenerateOptions,
  generate,
  generateStream,
  type StreamPiece,
  seedFor,
} from '../../src/generate/index.ts';
import { argmax } from '../../src/generate/sampler.ts';
import { byteTokens, FakeLM, hashIds, hashLogits, isBroken, oneHot } from './fake_lm.ts';

const EOS = 256;
const enc = new TextEncoder();

/** A byte-level model that, after a prompt of any length, spells `out` byte by byte then says EOS. */
function spellingLM(out: Uint8Array, promptLen: number, ctx = 256): FakeLM {
  return new FakeLM(
    257,
    ctx,
    oneHot(257, (prefix) => {
      const i = prefix.length - promptLen;
      return i < out.length ? out[i] : EOS;
    }),
  );
}

async function collect(it: AsyncIterable<StreamPiece>): Promise<StreamPiece[]> {
  const out: StreamPiece[] = [];
  for await (const p of it) out.push(p);
  return out;
}

test('EOS ends a sequence: the id is kept, its text is not; a list of EOS ids works', async () => {
  const model = spellingLM(enc.encode('hi!'), 2);
  const [r] = await generate(model, [[104, 105]], {
    maxNewTokens: 10,
    temperature: 0,
    eos: EOS,
    tokenBytes: byteTokens(),
  });
  assert.deepEqual(r, { ids: [104, 105, 33, EOS], text: 'hi!', finishReason: 'stop' });
  const [r2] = await generate(model, [[104, 105]], { maxNewTokens: 10, temperature: 0, eos: [5, 33] });
  assert.deepEqual(r2, { ids: [104, 105, 33], text: '', finishReason: 'stop' });
  // Without eos the model's EOS id is an ordinary token, and generation runs to the limit.
  const [r3] = await generate(model, [[104, 105]], { maxNewTokens: 6, temperature: 0 });
  assert.equal(r3.ids.length, 6);
  assert.equal(r3.finishReason, 'length');
});

test('max new tokens: exactly N tokens, 1 prefill + N - 1 decode calls; 0 calls nothing', async () => {
  for (const n of [1, 2, 17]) {
    const model = new FakeLM(50, 64, hashLogits(50));
    const [r] = await generate(model, [Int32Array.of(1, 2, 3)], { maxNewTokens: n, seed: 1 });
    assert.equal(r.ids.length, n);
    assert.equal(r.finishReason, 'length');
    assert.equal(model.calls.length, n);
    assert.deepEqual(model.calls[0], [3]);
    for (const c of model.calls.slice(1)) assert.deepEqual(c, [1]);
  }
  const model = new FakeLM(50, 64, hashLogits(50));
  assert.deepEqual(await generate(model, [[1]], { maxNewTokens: 0 }), [
    { ids: [], text: '', finishReason: 'length' },
  ]);
  assert.equal(model.calls.length, 0);
});

test('the context length is checked: prompt + max_tokens <= contextLength', async () => {
  const model = new FakeLM(50, 16, hashLogits(50));
  const prompt = Int32Array.from({ length: 10 }, (_, i) => i);
  assert.throws(
    () => generateStream(model, [prompt], { maxNewTokens: 7 }),
    /max_tokens.*context length 16.*6/,
  );
  await assert.rejects(generate(model, [[1], prompt], { maxNewTokens: 7 }), /prompt 1.*max_tokens/);
  const [r] = await generate(model, [prompt], { maxNewTokens: 6, seed: 0 });
  assert.equal(r.ids.length, 6);
  assert.throws(() => generateStream(model, [[]], { maxNewTokens: 1 }), /prompt 0 is empty/);
  assert.throws(() => generateStream(model, [[1, 50]], { maxNewTokens: 1 }), /token id 50 at position 1/);
  assert.throws(() => generateStream(model, [[1]], { maxNewTokens: 1, stop: ['x'] }), /tokenBytes or decode/);
});

test('prompt ids are used exactly as given (no BOS added)', async () => {
  const model = new FakeLM(50, 64, hashLogits(50));
  await generate(model, [[7, 8]], { maxNewTokens: 1, seed: 0 });
  assert.deepEqual(model.calls, [[2]]);
});

test('stop strings spanning tokens: text ends before the stop string, nothing of it is streamed', async () => {
  const vocab = ['Hel', 'lo', '\nUs', 'er', ': more', '\nUse', 'x'].map((t) => enc.encode(t));
  // After the prompt [0]: "lo", "\nUse", "x", "\nUs", "er", ": more" (the stop completes in the last).
  const script = [1, 5, 6, 2, 3, 4, 0, 0];
  const model = new FakeLM(
    vocab.length,
    64,
    oneHot(vocab.length, (p) => script[p.length - 1]),
  );
  const opts: GenerateOptions = { maxNewTokens: 20, temperature: 0, stop: ['\nUser:'], tokenBytes: vocab };
  const pieces = await collect(generateStream(model, [[0]], opts));
  // "\nUse" is held until "x" shows it is not the stop string; "\nUs" + "er" + ": more" is.
  assert.deepEqual(
    pieces.map((p) => p.text),
    ['lo', '', '\nUsex', '', '', ''],
  );
  assert.equal(pieces.at(-1)?.finishReason, 'stop');
  const [r] = await generate(model, [[0]], opts);
  assert.deepEqual(r, { ids: [1, 5, 6, 2, 3, 4], text: 'lo\nUsex', finishReason: 'stop' });
  // Without the stop string, the same tokens run on to the limit.
  const [all] = await generate(model, [[0]], { ...opts, stop: [], maxNewTokens: 6 });
  assert.deepEqual(all, { ids: [1, 5, 6, 2, 3, 4], text: 'lo\nUsex\nUser: more', finishReason: 'length' });
});

test('a stop string completed by the last allowed token finishes with stop, not length', async () => {
  const model = spellingLM(enc.encode('abcSTOP'), 1);
  const [r] = await generate(model, [[0]], {
    maxNewTokens: 7,
    temperature: 0,
    stop: ['STOP'],
    tokenBytes: byteTokens(),
  });
  assert.deepEqual(r, { ids: [...enc.encode('abcSTOP')], text: 'abc', finishReason: 'stop' });
  const [r2] = await generate(model, [[0]], {
    maxNewTokens: 6,
    temperature: 0,
    stop: ['STOP'],
    tokenBytes: byteTokens(),
  });
  assert.deepEqual(r2, { ids: [...enc.encode('abcSTO')], text: 'abcSTO', finishReason: 'length' });
});

test('streaming never yields a broken character (emoji split across byte tokens)', async () => {
  const text = 'Grüße 😀🎉 日本語 ok';
  const bytes = enc.encode(text);
  const model = spellingLM(bytes, 1);
  const dec = new TextDecoder();
  for (const decoding of [
    { tokenBytes: byteTokens() },
    { decode: (ids: readonly number[]) => dec.decode(Uint8Array.from(ids.filter((i) => i < 256))) },
  ]) {
    const pieces = await collect(
      generateStream(model, [[0]], { maxNewTokens: 100, temperature: 0, eos: EOS, ...decoding }),
    );
    assert.equal(pieces.length, bytes.length + 1);
    for (const p of pieces) assert.ok(!isBroken(p.text), JSON.stringify(p.text));
    assert.equal(pieces.map((p) => p.text).join(''), text);
    assert.ok(pieces.filter((p) => p.text === '').length >= 3 + 3 + 2 * 3);
    assert.equal(pieces.at(-1)?.finishReason, 'stop');
    assert.equal(pieces.filter((p) => p.finishReason).length, 1);
  }
});

test('a batch of unequal prompts generates what each prompt generates alone (greedy)', async () => {
  const V = 40;
  const eos = 3;
  // Logits from a hash of the whole prefix; EOS becomes the argmax after some prefixes.
  const next = (prefix: readonly number[]) => {
    const l = hashLogits(V)(prefix);
    if (hashIds(prefix) % 6 === 0) l[eos] = 100;
    return l;
  };
  const prompts = [[1, 2, 3, 4, 5], [9], [7, 7, 7], [11, 12, 13, 14, 15, 16, 17, 18]];
  const opts: GenerateOptions = { maxNewTokens: 24, temperature: 0, eos, repetitionPenalty: 1.3 };
  const model = new FakeLM(V, 64, next);
  const batch = await generate(model, prompts, opts);
  const alone = [];
  for (const p of prompts) alone.push((await generate(new FakeLM(V, 64, next), [p], opts))[0]);
  assert.deepEqual(batch, alone);
  const lengths = new Set(batch.map((r) => r.ids.length));
  assert.ok(lengths.size > 1, `sequences should finish at different steps: ${[...lengths]}`);
  // Prefill feeds each whole prompt in one call; a finished sequence is never fed again.
  assert.deepEqual(
    model.calls[0],
    prompts.map((p) => p.length),
  );
  batch.forEach((r, b) => {
    const fed = model.calls.slice(1).map((c) => c[b]);
    const live = r.ids.length - 1;
    assert.deepEqual(fed, [...Array(live).fill(1), ...Array(fed.length - live).fill(0)]);
  });
});

test('with sampling, sequence b of a batch equals its prompt alone seeded with seedFor(seed, b)', async () => {
  const V = 30;
  const prompts = [[1, 2], [5, 6, 7, 8], [3]];
  const opts: GenerateOptions = { maxNewTokens: 12, seed: 77, topK: 10, topP: 0.95, temperature: 1.1 };
  const batch = await generate(new FakeLM(V, 64, hashLogits(V)), prompts, opts);
  for (let b = 0; b < prompts.length; b++) {
    const [r] = await generate(new FakeLM(V, 64, hashLogits(V)), [prompts[b]], {
      ...opts,
      seed: seedFor(77, b),
    });
    assert.deepEqual(r, batch[b]);
  }
  assert.equal(seedFor(77, 0), 77);
});

test('a fixed seed reproduces the generation; a different seed changes it', async () => {
  const V = 30;
  const run = async (seed: number) =>
    (await generate(new FakeLM(V, 64, hashLogits(V, 1)), [[1, 2, 3]], { maxNewTokens: 20, seed }))[0].ids;
  assert.deepEqual(await run(5), await run(5));
  assert.notDeepEqual(await run(5), await run(6));
});

test('every sampling option reaches the sampler through generate', async () => {
  const V = 30;
  const model = () => new FakeLM(V, 64, hashLogits(V, 1));
  const prompt = [[4, 2]];
  const greedy = (await generate(model(), prompt, { maxNewTokens: 15, temperature: 0 }))[0].ids;
  const hot = { maxNewTokens: 15, temperature: 3, seed: 1 };
  assert.notDeepEqual((await generate(model(), prompt, hot))[0].ids, greedy, 'temperature 3 is not greedy');
  for (const o of [{ topK: 1 }, { topP: 0 }, { minP: 1 }]) {
    assert.deepEqual((await generate(model(), prompt, { ...hot, ...o }))[0].ids, greedy, JSON.stringify(o));
  }
  // A large presence penalty forbids repeating a generated token; a large repetition penalty with
  // greedy decoding avoids the prompt's tokens too (all hash logits are drawn to be positive here).
  const noRepeat = (
    await generate(model(), prompt, { maxNewTokens: 15, temperature: 0, presencePenalty: 100 })
  )[0];
  assert.equal(new Set(noRepeat.ids).size, 15);
  assert.ok(new Set(greedy).size < 15, 'greedy alone repeats (so the penalty did something)');
  const positive = new FakeLM(V, 64, (p) => hashLogits(V, 1)(p).map((x) => Math.abs(x) + 1));
  const rep = (
    await generate(positive, prompt, { maxNewTokens: 10, temperature: 0, repetitionPenalty: 1e6 })
  )[0];
  assert.equal(new Set([...rep.ids, 4, 2]).size, 12);
  const freq = (
    await generate(model(), prompt, { maxNewTokens: 15, temperature: 0, frequencyPenalty: 100 })
  )[0];
  assert.equal(new Set(freq.ids).size, 15);
});

test('logprobs and top logprobs of the raw distribution, per generated token', async () => {
  const V = 30;
  const next = hashLogits(V);
  const [r] = await generate(new FakeLM(V, 64, next), [[1]], {
    maxNewTokens: 5,
    temperature: 0,
    topLogprobs: 3,
  });
  assert.equal(r.logprobs?.length, 5);
  let prefix = [1];
  r.logprobs?.forEach((lp, i) => {
    const l = next(prefix);
    const m = Math.max(...l);
    const lse = m + Math.log(l.reduce((a, x) => a + Math.exp(x - m), 0));
    assert.equal(lp.tokenId, r.ids[i]);
    assert.equal(lp.tokenId, argmax(l));
    assert.ok(Math.abs(lp.logprob - (l[lp.tokenId] - lse)) < 1e-5);
    assert.equal(lp.topLogprobs?.length, 3);
    assert.equal(lp.topLogprobs?.[0].tokenId, lp.tokenId);
    prefix = [...prefix, lp.tokenId];
  });
  const [plain] = await generate(new FakeLM(V, 64, next), [[1]], { maxNewTokens: 2, seed: 0 });
  assert.equal(plain.logprobs, undefined);
});

test('an abort signal ends running sequences with finishReason abort', async () => {
  const model = new FakeLM(50, 256, hashLogits(50));
  const ac = new AbortController();
  const pieces: StreamPiece[] = [];
  for await (const p of generateStream(model, [[1], [2, 3]], {
    maxNewTokens: 100,
    seed: 0,
    signal: ac.signal,
  })) {
    pieces.push(p);
    if (pieces.length === 6) ac.abort();
  }
  assert.equal(pieces.length, 8);
  assert.deepEqual(
    pieces.slice(6).map((p) => [p.index, p.tokenId, p.finishReason]),
    [
      [0, null, 'abort'],
      [1, null, 'abort'],
    ],
  );
  assert.equal(model.calls.length, 3);
  assert.ok(
    model.caches.every((c) => c.disposed),
    'the KV cache is disposed when a run ends early',
  );
  const pre = new AbortController();
  pre.abort();
  const fresh = new FakeLM(50, 256, hashLogits(50));
  const r = await generate(fresh, [[1]], { maxNewTokens: 5, signal: pre.signal });
  assert.deepEqual(r, [{ ids: [], text: '', finishReason: 'abort' }]);
  assert.equal(fresh.calls.length, 0);
});

test('the stream yields to the event loop between steps', async () => {
  const model = new FakeLM(50, 256, hashLogits(50));
  let ticks = 0;
  let running = true;
  const spin = () => {
    ticks++;
    if (running) setImmediate(spin);
  };
  setImmediate(spin);
  await generate(model, [[1]], { maxNewTokens: 50, seed: 0 });
  running = false;
  assert.ok(ticks >= 45, `another task ran ${ticks} times during 50 steps`);
});

test('the KV cache is disposed when generation ends, and when the consumer stops reading', async () => {
  const model = new FakeLM(50, 256, hashLogits(50));
  await generate(model, [[1], [2]], { maxNewTokens: 4, seed: 0 });
  for await (const p of generateStream(model, [[1]], { maxNewTokens: 50, seed: 0 }))
    if (p.tokenId !== null) break;
  assert.equal(model.caches.length, 2);
  assert.ok(model.caches.every((c) => c.disposed));
});
