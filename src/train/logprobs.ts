/**
 * Log-probabilities of responses: the quantity DPO, PPO and the reward model all work on.
 *
 * A response batch holds B rows of prompt + response tokens, right-padded to T. Row b predicts its
 * token t+1 from the logits at position t, so the response mask sits on the *logit* positions:
 *
 *   ids      p0 p1 p2 r0 r1 r2 pad
 *   targets  p1 p2 r0 r1 r2  0   0      (the next token; 0 where there is none)
 *   mask      0  0  1  1  1  0   0      (1 where the target is a response token)
 *
 * log p(response | prompt) = sum_t mask[t] * log softmax(logits[t])[targets[t]]: prompt tokens and
 * padding never count. The gather is the fused gatherLogProbs op (no [B, T, V] probabilities kept).
 *
 * A frozen reference model (referenceModel) is a copy whose parameters do not require a gradient:
 * it records no tape and never gets gradient buffers or optimizer state.
 */
import { DecoderLM } from '../models/decoder.ts';
import { gatherLogProbs, mul, noGrad, sumLast, Tensor, tidy } from '../tensor/index.ts';

/** One row before batching: prompt and response token ids. */
export interface PromptResponse {
  prompt: readonly number[];
  response: readonly number[];
}

export interface ResponseBatch {
  /** [B, T] token ids, right-padded with `padId`. */
  ids: Int32Array;
  B: number;
  T: number;
  /** [B, T] the next token at each position (0 at the last position and on padding). */
  targets: Int32Array;
  /** [B, T] 1 where targets[t] is a response token, else 0. */
  mask: Float32Array;
  /** [B] position of the last token of each row (prompt + response - 1). */
  last: Int32Array;
  /** [B] prompt lengths (after truncation). */
  promptLengths: Int32Array;
  /** [B] response lengths (after truncation). */
  responseLengths: Int32Array;
}

/**
 * Right-pads rows into a batch. A row longer than maxLen keeps its prompt and loses the end of its
 * response (a prompt that leaves no room for one response token is an error). T is the longest row.
 */
export function responseBatch(rows: readonly PromptResponse[], maxLen: number, padId = 0): ResponseBatch {
  if (rows.length === 0) throw new Error('responseBatch: no rows');
  const B = rows.length;
  const kept = rows.map((r, b) => {
    if (r.prompt.length === 0) throw new Error(`responseBatch: row ${b} has an empty prompt (give a BOS)`);
    if (r.response.length === 0) throw new Error(`responseBatch: row ${b} has an empty response`);
    if (r.prompt.length >= maxLen)
      throw new Error(
        `responseBatch: row ${b} has a prompt of ${r.prompt.length} tokens, no room for a response within ${maxLen}`,
      );
    return Math.min(r.response.length, maxLen - r.prompt.length);
  });
  const T = Math.max(...rows.map((r, b) => r.prompt.length + kept[b]));
  const ids = new Int32Array(B * T).fill(padId);
  const targets = new Int32Array(B * T);
  const mask = new Float32Array(B * T);
  const last = new Int32Array(B);
  const promptLengths = new Int32Array(B);
  const responseLengths = new Int32Array(B);
  rows.forEach((r, b) => {
    const P = r.prompt.length;
    const R = kept[b];
    const o = b * T;
    for (let t = 0; t < P; t++) ids[o + t] = r.prompt[t];
    for (let t = 0; t < R; t++) ids[o + P + t] = r.response[t];
    for (let t = 0; t + 1 < P + R; t++) targets[o + t] = ids[o + t + 1];
    for (let t = P - 1; t < P + R - 1; t++) mask[o + t] = 1;
    last[b] = P + R - 1;
    promptLengths[b] = P;
    responseLengths[b] = R;
  });
  return { ids, B, T, targets, mask, last, promptLengths, responseLengths };
}

/** logits [B, T, V] -> [B, T] log p(targets[t]) at every position (masked positions included). */
export function tokenLogProbs(logits: Tensor, batch: ResponseBatch): Tensor {
  checkLogits(logits, batch, 'tokenLogProbs');
  return gatherLogProbs(logits, batch.targets); // [B, T]
}

/** logits [B, T, V] -> [B] sum of the response tokens' log-probabilities (with autograd). */
export function sequenceLogProbs(logits: Tensor, batch: ResponseBatch): Tensor {
  checkLogits(logits, batch, 'sequenceLogProbs');
  const lp = gatherLogProbs(logits, batch.targets); // [B, T]
  return sumLast(mul(lp, Tensor.from(batch.mask, [batch.B, batch.T]))); // [B]
}

function checkLogits(logits: Tensor, batch: ResponseBatch, op: string): void {
  const [B, Tn] = logits.shape;
  if (logits.ndim !== 3 || B !== batch.B || Tn !== batch.T)
    throw new Error(`${op}: logits [${logits.shape}] do not match the batch [${batch.B}, ${batch.T}, V]`);
}

/**
 * Runs fn without the tape and disposes every tensor it creates: for computations that copy their
 * results out as plain numbers (tidy() itself only passes tensors through).
 */
export function withoutTape<T>(fn: () => T): T {
  let out!: T;
  noGrad(() =>
    tidy(() => {
      out = fn();
    }),
  );
  return out;
}

/** Sequence log-probabilities of a batch under a model, without the tape: [B] numbers. */
export function scoreSequences(model: DecoderLM, batch: ResponseBatch): Float32Array {
  return withoutTape(() =>
    Float32Array.from(sequenceLogProbs(model.forward(batch.ids, batch.B, batch.T), batch).data),
  );
}

/** Per-token log-probabilities [B * T] under a model, without the tape. */
export function scoreTokens(model: DecoderLM, batch: ResponseBatch): Float32Array {
  return withoutTape(() =>
    Float32Array.from(tokenLogProbs(model.forward(batch.ids, batch.B, batch.T), batch).data),
  );
}

/**
 * Entropy (nats) of the softmax of each row of logits [N, V], computed from raw values without
 * the tape: H = logsumexp(z) - sum p z.
 */
export function rowEntropy(logits: Float32Array, N: number, V: number): Float32Array {
  const out = new Float32Array(N);
  for (let i = 0; i < N; i++) {
    const z = logits.subarray(i * V, (i + 1) * V);
    let m = Number.NEGATIVE_INFINITY;
    for (let j = 0; j < V; j++) if (z[j] > m) m = z[j];
    let s = 0;
    let sz = 0;
    for (let j = 0; j < V; j++) {
      const e = Math.exp(z[j] - m);
      s += e;
      sz += e * z[j];
    }
    out[i] = m + Math.log(s) - sz / s;
  }
  return out;
}

/**
 * A frozen copy of a decoder (the reference policy): same config and weights, parameters marked
 * as not requiring a gradient, so forward passes record nothing and no optimizer ever holds them.
 */
export function referenceModel(model: DecoderLM): DecoderLM {
  const ref = new DecoderLM({ ...model.config });
  ref.loadStateDict(model.stateDict(), 'reference copy');
  freeze(ref);
  return ref;
}

/** Marks every parameter of a module as frozen (no gradient, no tape). */
export function freeze(m: { parameters(): Tensor[] }): void {
  for (const p of m.parameters()) {
    p.requiresGrad = false;
    p.grad?.dispose();
    p.grad = null;
  }
}

/** Gives a model's parameter buffers back to the pool (when its work is done, e.g. after caching). */
export function disposeModel(m: { parameters(): Tensor[] }): void {
  for (const p of m.parameters()) p.dispose();
}

/** The rows `rows` of a batch, with T trimmed to the longest of them. */
export function selectRows(batch: ResponseBatch, rows: readonly number[]): ResponseBatch {
  const B = rows.length;
  const T = Math.max(...rows.map((r) => batch.last[r] + 1));
  const pick = <A extends Int32Array | Float32Array>(src: A, dst: A): A => {
    rows.forEach((r, b) => {
      dst.set(src.subarray(r * batch.T, r * batch.T + T), b * T);
    });
    return dst;
  };
  return {
    ids: pick(batch.ids, new Int32Array(B * T)),
    B,
    T,
    targets: pick(batch.targets, new Int32Array(B * T)),
    mask: pick(batch.mask, new Float32Array(B * T)),
    last: Int32Array.from(rows, (r) => batch.last[r]),
    promptLengths: Int32Array.from(rows, (r) => batch.promptLengths[r]),
    responseLengths: Int32Array.from(rows, (r) => batch.responseLengths[r]),
  };
}

/** Per-position values [B * T] of `batch` restricted to `rows` in the layout of selectRows(batch, rows). */
export function selectPositions(
  values: ArrayLike<number>,
  batch: ResponseBatch,
  rows: readonly number[],
): Float32Array {
  const T = Math.max(...rows.map((r) => batch.last[r] + 1));
  const out = new Float32Array(rows.length * T);
  rows.forEach((r, b) => {
    for (let t = 0; t < T; t++) out[b * T + t] = values[r * batch.T + t];
  });
  return out;
}
