/** Checkpoint formats: safetensors, Hugging Face config and weight names, GGUF, model directories. */
export * from './checkpoint.ts';
export * from './float16.ts';
export * from './gguf.ts';
export * from './gguf_export.ts';
export * from './gguf_file_types.ts';
export * from './gguf_tokenizer.ts';
export * from './hf_config.ts';
export * from './model_export.ts';
export * from './quantized.ts';
export * from './safetensors.ts';
export * from './tensors.ts';
export * from './weight_names.ts';
