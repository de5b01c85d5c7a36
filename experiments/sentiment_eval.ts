/**
 * How a policy is judged in the sentiment experiment, on a fixed set of held-out prompts with one
 * sample each (temperature 1, the policy's own distribution, a fixed seed):
 *
 *   reward      mean ground-truth (AFINN) score of prompt + continuation
 *   kl          sequence-level KL(policy || reference), estimated on the samples:
 *               mean_y [log pi(y | x) - log ref(y | x)]  (summed over response tokens)
 *   distinct-2  distinct token bigrams / all token bigrams over the continuations (collapse check)
 *   ppl         perplexity of the continuations under the reference (fluency check)
 *   entropy     mean per-token entropy of the policy on its samples (nats)
 */
import { generate } from '../src/generate/index.ts';
import type { DecoderLM } from '../src/models/decoder.ts';
import type { Tokenizer } from '../src/tokenizers/tokenizer.ts';
import { responseBatch, rowEntropy, scoreSequences, withoutTape } from '../src/train/logprobs.ts';
import { groundTruth, review } from './sentiment_corpus.ts';

export interface PolicyEval {
  reward: number;
  kl: number;
  distinct2: number;
  ppl: number;
  entropy: number;
  length: number;
  samples: string[];
}

export interface EvalSetup {
  ref: DecoderLM;
  tok: Tokenizer;
  eos: number;
  /** Prompt token ids (starting with the BOS/EOS id) and their text. */
  prompts: number[][];
  promptTexts: string[];
  maxNewTokens: number;
  seed: number;
  batch?: number;
}

/** Samples one continuation per prompt and measures it (see the file comment). */
export async function evaluatePolicy(policy: DecoderLM, s: EvalSetup): Promise<PolicyEval> {
  const B = s.batch ?? 128;
  let reward = 0;
  let kl = 0;
  let refNll = 0;
  let tokens = 0;
  let entropy = 0;
  const bigrams = new Set<string>();
  let nBigrams = 0;
  const samples: string[] = [];
  policy.training = false;
  for (let i = 0; i < s.prompts.length; i += B) {
    const prompts = s.prompts.slice(i, i + B);
    const out = await generate(policy, prompts, {
      maxNewTokens: s.maxNewTokens,
      temperature: 1,
      eos: s.eos,
      seed: s.seed + i,
    });
    const batch = responseBatch(
      prompts.map((p, b) => ({ prompt: p, response: out[b].ids })),
      policy.contextLength,
    );
    const lpPolicy = scoreSequences(policy, batch);
    const lpRef = scoreSequences(s.ref, batch);
    const V = policy.vocabSize;
    const ent = withoutTape(() =>
      rowEntropy(policy.forward(batch.ids, batch.B, batch.T).data, batch.B * batch.T, V),
    );
    out.forEach((o, b) => {
      const text = review(s.promptTexts[i + b], s.tok.decode(o.ids.filter((t) => t !== s.eos)));
      samples.push(text);
      reward += groundTruth(text);
      kl += lpPolicy[b] - lpRef[b];
      refNll -= lpRef[b];
      tokens += o.ids.length;
      for (let t = 0; t + 1 < o.ids.length; t++) bigrams.add(`${o.ids[t]},${o.ids[t + 1]}`);
      nBigrams += Math.max(0, o.ids.length - 1);
    });
    for (let k = 0; k < batch.B * batch.T; k++) entropy += ent[k] * batch.mask[k];
  }
  const n = s.prompts.length;
  return {
    reward: reward / n,
    kl: kl / n,
    distinct2: bigrams.size / Math.max(1, nBigrams),
    ppl: Math.exp(refNll / tokens),
    entropy: entropy / tokens,
    length: tokens / n,
    samples,
  };
}
