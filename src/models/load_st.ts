/**
 * Writes an Encoder as a sentence-transformers directory, the layout EncoderEmbedder
 * (rag/encoder_embedder.ts, via rag/sentence_transformers.ts) and sentence-transformers itself
 * load unchanged:
 *
 *   config.json, model.safetensors, tokenizer.json   the Hugging Face BERT model (saveModel)
 *   modules.json                                     Transformer (path "") -> Pooling -> Normalize
 *                                                    (Normalize has no files, so no 2_Normalize/)
 *   1_Pooling/config.json                            pooling_mode_mean_tokens: true
 *   sentence_bert_config.json                        max_seq_length, do_lower_case false (the
 *                                                    tokenizer's BERT normalizer lowercases)
 *   config_sentence_transformers.json                no prompts (queries and passages alike)
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { type JsonValue, writeJsonFile } from '../io/files.ts';
import type { Encoder } from './encoder.ts';
import { saveModel } from './load.ts';

export function saveSentenceTransformer(
  dir: string,
  model: Encoder,
  tokenizerJson: JsonValue,
  maxSeqLength: number,
): void {
  if (!(Number.isInteger(maxSeqLength) && maxSeqLength > 2 && maxSeqLength <= model.config.contextLength))
    throw new Error(
      `saveSentenceTransformer: maxSeqLength ${maxSeqLength} must be in [3, ${model.config.contextLength}]`,
    );
  saveModel(dir, model, { tokenizerJson });
  writeJsonFile(join(dir, 'modules.json'), [
    { idx: 0, name: '0', path: '', type: 'sentence_transformers.models.Transformer' },
    { idx: 1, name: '1', path: '1_Pooling', type: 'sentence_transformers.models.Pooling' },
    { idx: 2, name: '2', path: '2_Normalize', type: 'sentence_transformers.models.Normalize' },
  ]);
  mkdirSync(join(dir, '1_Pooling'), { recursive: true });
  writeJsonFile(join(dir, '1_Pooling', 'config.json'), {
    word_embedding_dimension: model.config.dModel,
    pooling_mode_cls_token: false,
    pooling_mode_mean_tokens: true,
    pooling_mode_max_tokens: false,
    pooling_mode_mean_sqrt_len_tokens: false,
    pooling_mode_weightedmean_tokens: false,
    pooling_mode_lasttoken: false,
    include_prompt: true,
  });
  writeJsonFile(join(dir, 'sentence_bert_config.json'), {
    max_seq_length: maxSeqLength,
    do_lower_case: false,
  });
  writeJsonFile(join(dir, 'config_sentence_transformers.json'), {
    prompts: {},
    default_prompt_name: null,
    similarity_fn_name: 'cosine',
  });
}
