/** `xfmr info [--json]`: the backend in use, the CPU features detected and the thread count. */
import { cpuInfo, kernels } from '../kernels/index.ts';
import { loadNative, nativeKernelNames } from '../kernels/native.ts';
import { parseArgs } from './args.ts';

export async function run(argv: string[]): Promise<void> {
  const args = parseArgs(argv, { flags: ['json'] });
  const k = kernels();
  const cpu = cpuInfo();
  const info = {
    backend: k.name,
    threads: k.threads(),
    isa: cpu?.isa ?? null,
    bf16: cpu?.bf16 ?? null,
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
      `bf16:     ${info.bf16 ?? 'n/a'} (gemmBf16 path)\n` +
      `cpu:      ${info.cpu_features.join(' ') || 'n/a'}\n` +
      `kernels:  ${info.native_kernels} native, the rest on js\n` +
      `node:     ${info.node}\n`,
  );
}
