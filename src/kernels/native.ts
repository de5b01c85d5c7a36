/**
 * Loads the native addon (build/Release/xfmr.node). Functions the addon does not export fall back
 * to the js twin, so a partial addon is still a complete backend.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { jsKernels } from './js/index.ts';
import { KERNEL_NAMES, type Kernels } from './kernels.ts';

/** What the addon reports about the CPU. */
export interface CpuInfo {
  isa: 'avx512' | 'avx2' | 'portable';
  /**
   * The path of the bf16 kernels (gemmBf16, and linearBf16's prefill): AMX tiles (where the CPU
   * has AMX-BF16 and the self-check at first use passed), the AMX driver on emulated tiles (only
   * with XFMR_ISA=amx-emulated), AVX512-BF16 dot products (only with XFMR_ISA=avx512bf16), or f32
   * math on bf16-rounded inputs (the default without AMX: faster than VDPBF16PS on the CPUs
   * measured; native/cpu.cc).
   */
  bf16: 'amx' | 'amx-emulated' | 'avx512bf16' | 'f32';
  /** linearQuant's integer dot products: AVX-512 VNNI, AVX2 (maddubs), or scalar (native/linear_quant.cc). */
  quant: 'avx512vnni' | 'avx2' | 'portable';
  avx512f: boolean;
  avx512bw: boolean;
  avx512bf16: boolean;
  amx_bf16: boolean;
  avx2: boolean;
  fma: boolean;
  threads: number;
}

interface Addon extends Partial<Kernels> {
  threads(): number;
  setThreads(n: number): void;
  cpuInfo(): CpuInfo;
  /** native/mmap.cc: the file as an ArrayBuffer over a private mapping (absent on Windows builds). */
  mapFile?(path: string): ArrayBuffer;
}

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
/**
 * The addon: build/Release/xfmr.node, or XFMR_ADDON (a path) for another build of it, e.g. the
 * sanitizer build of `XFMR_SANITIZE=1 node scripts/build-native.js` (scripts/sanitize.js sets it).
 */
export const ADDON_PATH = process.env.XFMR_ADDON || join(root, 'build', 'Release', 'xfmr.node');

export interface NativeLoad {
  kernels: Kernels | null;
  cpu: CpuInfo | null;
  /** The addon's mapFile, or null when the addon is missing or was built without it. */
  mapFile: ((path: string) => ArrayBuffer) | null;
  /** Why the addon could not be used (null when it loaded). */
  error: string | null;
}

let cached: NativeLoad | null = null;

export function loadNative(): NativeLoad {
  if (cached) return cached;
  if (!existsSync(ADDON_PATH)) {
    cached = {
      kernels: null,
      cpu: null,
      mapFile: null,
      error: `${ADDON_PATH} not found (the native build failed or was skipped at npm install)`,
    };
    return cached;
  }
  try {
    const addon = createRequire(import.meta.url)(ADDON_PATH) as Addon;
    const kernels = { ...jsKernels, name: 'native' } as Record<string, unknown>;
    for (const name of KERNEL_NAMES) if (typeof addon[name] === 'function') kernels[name] = addon[name];
    kernels.threads = () => addon.threads();
    kernels.setThreads = (n: number) => addon.setThreads(n);
    const mapFile = typeof addon.mapFile === 'function' ? addon.mapFile.bind(addon) : null;
    cached = { kernels: kernels as unknown as Kernels, cpu: addon.cpuInfo(), mapFile, error: null };
  } catch (e) {
    cached = {
      kernels: null,
      cpu: null,
      mapFile: null,
      error: `${ADDON_PATH} failed to load: ${(e as Error).message}`,
    };
  }
  return cached;
}

/** Names of kernels the addon implements natively (the rest run on the js twin). */
export function nativeKernelNames(): string[] {
  if (!existsSync(ADDON_PATH)) return [];
  try {
    const addon = createRequire(import.meta.url)(ADDON_PATH) as Record<string, unknown>;
    return KERNEL_NAMES.filter((n) => typeof addon[n] === 'function');
  } catch {
    return [];
  }
}
