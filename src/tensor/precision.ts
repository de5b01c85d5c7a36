/**
 * The compute precision of the ops, as torch.autocast('cpu', dtype=torch.bfloat16) sets it: inside
 * withComputeDtype('bf16', fn) every GEMM (matmul, linear: ops/gemm.ts) and the fused attention
 * (ops/attention.ts) take bf16 operands (weights and activations rounded to bf16, round to nearest
 * even) and accumulate and write f32; everything else (norms, softmax, cross-entropy, residual
 * adds, AdamW) stays f32, and so do the tensors themselves. Parameters stay f32 master weights and
 * their gradients arrive in f32, so bf16 needs no loss scaling (its exponent range is f32's).
 *
 * The backward of an op runs at the precision its forward ran at, whatever scope backward() is
 * called in (autograd.ts records it), as autocast's backward does.
 *
 * The scope is one process-wide setting, not tied to an async context: while an async fn given to
 * withComputeDtype is pending, other work in the process also sees its dtype (the training loop is
 * the one async user, and nothing else computes beside it in a training process).
 */
import { cpuInfo, kernels } from '../kernels/index.ts';

export type ComputeDtype = 'f32' | 'bf16';
/** What a user may ask for: a dtype, or `auto` (bf16 where the CPU has bf16 units). */
export type DtypeChoice = ComputeDtype | 'auto';
export const DTYPE_CHOICES: readonly DtypeChoice[] = ['f32', 'bf16', 'auto'];

let current: ComputeDtype = 'f32';

/** The precision ops compute in now (f32 outside any scope). */
export function computeDtype(): ComputeDtype {
  return current;
}

/**
 * Runs fn with ops computing in `dtype`, restoring the previous precision after (after the promise
 * settles, when fn returns one).
 */
export function withComputeDtype<T>(dtype: ComputeDtype, fn: () => T): T {
  if (dtype !== 'f32' && dtype !== 'bf16')
    throw new Error(`compute dtype must be f32 or bf16, got "${dtype}"`);
  const prev = current;
  current = dtype;
  let result: T;
  try {
    result = fn();
  } catch (e) {
    current = prev;
    throw e;
  }
  if (result instanceof Promise) {
    return result.finally(() => {
      current = prev;
    }) as T;
  }
  current = prev;
  return result;
}

/** A resolved choice, and why (for the line printed at the start of training). */
export interface DtypeResolution {
  dtype: ComputeDtype;
  /** e.g. "auto: AVX512-BF16", "auto: js backend", "requested". */
  reason: string;
}

/**
 * `auto`: bf16 where the bf16 GEMM runs on AMX tiles (the native backend on an AMX CPU whose tile
 * self-check passed); f32 everywhere else. CONVENTIONS.md asks for bf16 on AVX512-BF16 too; we
 * depart from it, as the README says, because there it is slower than f32: VDPBF16PS gives half the
 * f32 FMA rate on Sapphire Rapids (measured by `npm run bench -- gemm`), so the bf16 GEMM runs f32
 * FMAs on rounded copies, and the rounding costs time without saving any (bf16 training measured
 * 0.73-0.94x f32 on such a VM). `--dtype bf16` still gives bf16 numerics anywhere. The js backend
 * emulates bf16 for tests, at a cost: auto is f32 there.
 */
export function resolveDtype(choice: DtypeChoice): DtypeResolution {
  if (choice === 'f32' || choice === 'bf16') return { dtype: choice, reason: 'requested' };
  if (choice !== 'auto') throw new Error(`dtype must be one of ${DTYPE_CHOICES.join(', ')}, got "${choice}"`);
  if (kernels().name === 'js') return { dtype: 'f32', reason: 'auto: js backend' };
  const cpu = cpuInfo();
  if (cpu?.bf16 === 'amx') return { dtype: 'bf16', reason: 'auto: AMX-BF16' };
  if (cpu?.avx512bf16)
    return { dtype: 'f32', reason: 'auto: no AMX; AVX512-BF16 alone is slower than f32 here' };
  return { dtype: 'f32', reason: 'auto: no AMX' };
}
