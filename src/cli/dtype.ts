/**
 * `--dtype f32|bf16|auto` of the commands that load a model for inference (generate, serve, start,
 * rag ask, eval): how the weight matrices are held in memory (src/models/load.ts). Norms, biases,
 * activations and the KV cache are f32 in every case.
 *
 *   auto  (default) what the checkpoint holds: BF16 matrices stay bf16, F32 ones stay f32, F16 ones
 *         become f32. An f32 checkpoint is not rounded to bf16 under auto, even on a CPU with
 *         AMX (where training's auto picks bf16 compute): training keeps
 *         f32 master weights whatever it computes in, but rounding inference weights throws their
 *         low 16 bits away, so the same command would give other tokens than the f32 model (and
 *         than PyTorch on the same checkpoint) depending on the machine it runs on. Halving the
 *         memory and the bytes a decode step reads is one flag away: --dtype bf16.
 *         A GGUF file's quantized matrices (Q8_0, Q4_0, Q4_K, Q5_K, Q6_K) stay quantized: linear
 *         computes with the blocks as llama.cpp does (activations quantized to 8 bits per block).
 *   bf16  every matrix bf16 (f32 and F16 checkpoints are rounded to nearest even; quantized ones
 *         are dequantized, then rounded)
 *   f32   every matrix f32 (a BF16 checkpoint is widened, exactly; quantized ones dequantized)
 */
import { LOAD_DTYPES, type LoadDtype } from '../models/load.ts';
import { optChoice, type ParsedArgs } from './args.ts';

/** The usage text of the option. */
export const DTYPE_USAGE = '[--dtype auto|f32|bf16]';

/** One line for --help: what each value does and why auto keeps an f32 checkpoint in f32. */
export const DTYPE_HELP =
  '--dtype auto|f32|bf16   weight matrices in memory: auto (default) keeps what the checkpoint holds ' +
  '(BF16 stays bf16, F32 stays f32: rounding an f32 checkpoint would change its tokens, machine by ' +
  "machine; a GGUF file's Q8_0/Q4_0/Q4_K/Q5_K/Q6_K matrices stay quantized), bf16 rounds to bf16 " +
  '(half the memory, faster decode; quantized ones are dequantized first), f32 widens (dequantizes)';

/** The --dtype option (default auto); a bad value is a usage error naming the option. */
export function optDtype(a: ParsedArgs): LoadDtype {
  return optChoice(a, 'dtype', LOAD_DTYPES, 'auto');
}
