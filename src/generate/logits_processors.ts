/**
 * Logits processors: each one changes the logits [V] of one sequence in place, and removes a token
 * by setting its logit to -Infinity (probability 0 after softmax). One function per idea, as in
 * llama2.c's sampler and transformers.js's logits processors; sampler.ts composes them in a fixed,
 * documented order.
 *
 * Which tokens the penalties see (the convention of vLLM's OpenAI server):
 * - the repetition penalty (CTRL, Keskar et al. 2019; Hugging Face `repetition_penalty`) looks at
 *   every token of the prompt and of the output so far;
 * - the frequency and presence penalties (OpenAI) count the generated tokens only.
 *
 * Ties are broken towards the lower token id everywhere (top-k, top-p, top logprobs), so the
 * result never depends on sort stability.
 */

/** The tokens a sequence has seen so far, for the penalties. */
export class TokenHistory {
  /** Every token of the prompt and of the output (repetition penalty). */
  readonly seen = new Set<number>();
  /** How often each token was generated (frequency and presence penalties). */
  readonly generatedCounts = new Map<number, number>();

  constructor(prompt: ArrayLike<number> = []) {
    for (let i = 0; i < prompt.length; i++) this.seen.add(prompt[i]);
  }

  /** Records a generated token. */
  push(id: number): void {
    this.seen.add(id);
    this.generatedCounts.set(id, (this.generatedCounts.get(id) ?? 0) + 1);
  }
}

/**
 * CTRL repetition penalty: for every seen token, a positive logit is divided by `penalty` and a
 * negative one multiplied by it (so `penalty` > 1 always makes the token less likely).
 * Example: penalty 2, logits [4, -1] both seen -> [2, -2]. Penalty 1 changes nothing.
 */
export function applyRepetitionPenalty(logits: Float32Array, seen: Iterable<number>, penalty: number): void {
  if (penalty === 1) return;
  for (const id of seen) {
    const v = logits[id];
    logits[id] = v > 0 ? v / penalty : v * penalty;
  }
}

/**
 * OpenAI frequency and presence penalties: logit[j] -= frequency * c[j] + presence * (c[j] > 0),
 * where c[j] is how many times token j was generated so far. Negative values encourage repeats.
 */
export function applyFrequencyPresencePenalty(
  logits: Float32Array,
  counts: ReadonlyMap<number, number>,
  frequency: number,
  presence: number,
): void {
  if (frequency === 0 && presence === 0) return;
  for (const [id, c] of counts) {
    if (c > 0) logits[id] -= frequency * c + presence;
  }
}

/** Divides every logit by `temperature` (> 0): < 1 sharpens the distribution, > 1 flattens it. */
export function applyTemperature(logits: Float32Array, temperature: number): void {
  if (!(temperature > 0)) throw new Error(`applyTemperature: temperature must be > 0 (got ${temperature})`);
  if (temperature === 1) return;
  for (let i = 0; i < logits.length; i++) logits[i] /= temperature;
}

/**
 * Keeps exactly the k most likely tokens (ties: lower id first; unlike Hugging Face, which keeps
 * every token tied with the k-th). k <= 0 or k >= V changes nothing.
 */
export function applyTopK(logits: Float32Array, k: number): void {
  if (k <= 0 || k >= logits.length) return;
  const top = topIndices(logits, k);
  if (top.length < k) return; // fewer than k tokens left: nothing to remove
  const w = top[k - 1]; // the last token kept
  const vw = logits[w];
  for (let i = 0; i < logits.length; i++) {
    const v = logits[i];
    if (!(v > vw || (v === vw && i <= w))) logits[i] = -Infinity;
  }
}

const BUCKETS = 1024;
let weights = new Float64Array(0); // scratch: exp(logit - max), reused across calls

/**
 * Nucleus sampling (Holtzman et al. 2019): keeps the smallest set of most likely tokens whose
 * probabilities (softmax of the current logits) sum to at least p; the most likely token is always
 * kept, so p = 0 means greedy. p >= 1 changes nothing.
 *
 * O(V) without sorting the vocabulary (a near-uniform distribution over 150k tokens, as a random
 * model gives, would need a 150k sort per token): tokens go into 1024 buckets by logit, the mass of
 * whole buckets is accumulated from the top, and only the bucket where the sum crosses p is sorted.
 */
export function applyTopP(logits: Float32Array, p: number): void {
  if (p >= 1) return;
  const V = logits.length;
  let max = -Infinity;
  let min = Infinity;
  let n = 0;
  for (let i = 0; i < V; i++) {
    const v = logits[i];
    if (!(v > -Infinity)) continue;
    n++;
    if (v > max) max = v;
    if (v < min) min = v;
  }
  if (n <= 1) return;
  if (weights.length < V) weights = new Float64Array(V);
  const w = weights;
  let sum = 0;
  for (let i = 0; i < V; i++) {
    w[i] = logits[i] > -Infinity ? Math.exp(logits[i] - max) : 0;
    sum += w[i];
  }
  // Bucket 0 holds the largest logits: bucket(v) = floor((max - v) / width).
  const scale = max > min ? BUCKETS / (max - min) : 0;
  const bucketOf = (v: number) => Math.min(BUCKETS - 1, Math.floor((max - v) * scale));
  const mass = new Float64Array(BUCKETS);
  for (let i = 0; i < V; i++) if (w[i] > 0) mass[bucketOf(logits[i])] += w[i] / sum;
  let cum = 0;
  let b = 0;
  while (b < BUCKETS - 1 && (cum + mass[b] < p || mass[b] === 0)) cum += mass[b++];
  // Sort the crossing bucket only (value descending, lower id first) and walk it.
  const inBucket: number[] = [];
  for (let i = 0; i < V; i++) if (w[i] > 0 && bucketOf(logits[i]) === b) inBucket.push(i);
  inBucket.sort((x, y) => logits[y] - logits[x] || x - y);
  let last = inBucket[inBucket.length - 1]; // rounding fallback: keep the whole bucket
  for (const i of inBucket) {
    cum += w[i] / sum;
    if (cum >= p) {
      last = i;
      break;
    }
  }
  const vl = logits[last];
  for (let i = 0; i < V; i++) {
    const v = logits[i];
    if (!(v > vl || (v === vl && i <= last))) logits[i] = -Infinity;
  }
}

/**
 * Min-p (Nguyen et al. 2024): keeps the tokens whose probability is at least minP times the top
 * token's, i.e. logit >= max + ln(minP). minP <= 0 changes nothing; minP = 1 keeps only the tokens
 * tied with the top.
 */
export function applyMinP(logits: Float32Array, minP: number): void {
  if (minP <= 0) return;
  let max = -Infinity;
  for (let i = 0; i < logits.length; i++) if (logits[i] > max) max = logits[i];
  const threshold = max + Math.log(minP);
  for (let i = 0; i < logits.length; i++) if (!(logits[i] >= threshold)) logits[i] = -Infinity;
}

/**
 * The ids of the n largest values, largest first (ties: lower id first); -Infinity and NaN are
 * never returned, so fewer than n ids come back when fewer are finite. O(V log n) with a heap.
 * Example: topIndices([1, 3, 3, 0], 2) -> [1, 2].
 */
export function topIndices(values: ArrayLike<number>, n: number): Int32Array {
  const heap = new Int32Array(Math.max(0, n)); // a min-heap: the worst kept id at heap[0]
  let size = 0;
  // a is worse than b: smaller value, or equal value and larger id.
  const worse = (a: number, b: number) => values[a] < values[b] || (values[a] === values[b] && a > b);
  const siftDown = (i: number) => {
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < size && worse(heap[l], heap[m])) m = l;
      if (r < size && worse(heap[r], heap[m])) m = r;
      if (m === i) return;
      const t = heap[i];
      heap[i] = heap[m];
      heap[m] = t;
      i = m;
    }
  };
  for (let id = 0; id < values.length && n > 0; id++) {
    if (!(values[id] > -Infinity)) continue;
    if (size < n) {
      let i = size++;
      heap[i] = id;
      while (i > 0) {
        const parent = (i - 1) >> 1;
        if (!worse(heap[i], heap[parent])) break;
        const t = heap[i];
        heap[i] = heap[parent];
        heap[parent] = t;
        i = parent;
      }
    } else if (worse(heap[0], id)) {
      heap[0] = id;
      siftDown(0);
    }
  }
  const out = new Int32Array(size);
  for (let j = size - 1; j >= 0; j--) {
    out[j] = heap[0];
    heap[0] = heap[--size];
    siftDown(0);
  }
  return out;
}
