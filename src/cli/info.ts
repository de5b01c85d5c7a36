/** `xfmr info [--json]`: the backend in use, the CPU features detected and the thread count. */
import { cpuInfo, kernels } from '../kernels/index.ts';
import { type CpuInfo, loadNative, nativeKernelNames } from '../kernels/native.ts';
import { parseArgs } from './args.ts';

/** What the bf16 path means on this CPU, in one phrase. */
function bf16Note(cpu: CpuInfo): string {
  switch (cpu.bf16) {
    case 'amx':
      return 'AMX tiles (TDPBF16PS), self-check passed';
    case 'amx-emulated':
      return 'the AMX driver on emulated tiles (XFMR_ISA=amx-emulated; slow, for tests)';
    case 'avx512bf16':
      return 'AVX512-BF16 dot products (VDPBF16PS)';
    default:
      return (
        'inputs rounded to bf16, then the f32 GEMM: ' +
        (cpu.amx_bf16
          ? 'AMX is present but not used (XFMR_ISA, or the self-check failed: see stderr)'
          : cpu.avx512bf16
            ? 'no AMX (XFMR_ISA=avx512bf16 picks VDPBF16PS; `npm run bench -- gemm` says which is faster here)'
            : 'no AMX or AVX512-BF16')
      );
  }
}

export const USAGE = 'usage: xfmr info [--json]';

export async function run(argv: string[]): Promise<void> {
  const args = parseArgs(argv, { flags: ['json'] });
  const k = kernels();
  const cpu = cpuInfo();
  const info = {
    backend: k.name,
    threads: k.threads(),
    isa: cpu?.isa ?? null,
    bf16: cpu?.bf16 ?? null,
    bf16_note: cpu ? bf16Note(cpu) : null,
    cpu_features: cpu
      ? Object.entries(cpu)
          .filter(([key, v]) => key !== 'isa' && key !== 'bf16' && key !== 'threads' && v === true)
          .map(([key]) => key)
      : [],
    native_kernels: nativeKernelNames().length,
    native_error: loadNative().error,
    node: process.version,
  };
  if (args.options.has('json')) {
    process.stdout.write(`${JSON.stringify(info)}\n`);
    return;
  }
  process.stdout.write(
    `backend:  ${info.backend}${info.native_error ? ` (native unavailable: ${info.native_error})` : ''}\n` +
      `threads:  ${info.threads}\n` +
      `isa:      ${info.isa ?? 'n/a'}\n` +
      `bf16:     ${info.bf16 ?? 'n/a'}${info.bf16_note ? ` (${info.bf16_note})` : ''}\n` +
      `cpu:      ${info.cpu_features.join(' ') || 'n/a'}\n` +
      `kernels:  ${info.native_kernels} native, the rest on js\n` +
      `node:     ${info.node}\n`,
  );
}
