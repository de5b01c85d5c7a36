/** Generation: logits processors, sampler, stopping criteria, streamer and the generation loop. */
export {
  type GenerateOptions,
  type GenerationResult,
  generate,
  generateStream,
  type StreamPiece,
  seedFor,
  type TokenLogprob,
  validateGeneration,
} from './generate.ts';
export {
  applyFrequencyPresencePenalty,
  applyMinP,
  applyRepetitionPenalty,
  applyTemperature,
  applyTopK,
  applyTopP,
  TokenHistory,
  topIndices,
} from './logits_processors.ts';
export {
  argmax,
  logSumExp,
  randomSeed,
  type SampleResult,
  Sampler,
  type SamplerOptions,
  sampleFromLogits,
  type TopLogprob,
  validateSamplerOptions,
} from './sampler.ts';
export {
  EosCriterion,
  eosSet,
  type FinishReason,
  MaxNewTokensCriterion,
  type StopMatch,
  StopStringMatcher,
} from './stopping.ts';
export {
  ByteStreamer,
  createStreamer,
  DecodeStreamer,
  type TextDecoding,
  type TextStreamer,
  type TokenBytes,
} from './streamer.ts';
