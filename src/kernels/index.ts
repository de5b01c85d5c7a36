/**
 * Backend selection. The native addon is the default on Node; `XFMR_BACKEND=js` forces the
 * pure-TypeScript kernels, `XFMR_BACKEND=native` insists on the addon (an error if it is missing).
 * When the addon is missing and nothing was forced, xfmr says so once on stderr and runs on js.
 */
import { jsKernels } from './js/index.ts';
import type { Kernels } from './kernels.ts';
import { type CpuInfo, loadNative } from './native.ts';

export { jsKernels } from './js/index.ts';
export type { Kernels } from './kernels.ts';

let active: Kernels | null = null;
let warned = false;

function choose(): Kernels {
  const want = process.env.XFMR_BACKEND;
  if (want === 'js') return jsKernels;
  if (want && want !== 'native') {
    throw new Error(`XFMR_BACKEND must be "js" or "native", got "${want}"`);
  }
  const native = loadNative();
  if (native.kernels) return native.kernels;
  if (want === 'native')
    throw new Error(`XFMR_BACKEND=native but the native addon is unavailable: ${native.error}`);
  if (!warned) {
    warned = true;
    process.stderr.write(`xfmr: native addon unavailable, using the js backend (slow): ${native.error}\n`);
  }
  return jsKernels;
}

/** The kernels in use. */
export function kernels(): Kernels {
  if (!active) active = choose();
  return active;
}

/** Switches the backend for the whole process (tests compare the two). */
export function useBackend(name: 'js' | 'native'): Kernels {
  if (name === 'js') active = jsKernels;
  else {
    const native = loadNative();
    if (!native.kernels) throw new Error(`native backend unavailable: ${native.error}`);
    active = native.kernels;
  }
  return active;
}

/** The native kernels, or null when the addon is unavailable (tests skip native checks then). */
export function nativeKernels(): Kernels | null {
  return loadNative().kernels;
}

export function cpuInfo(): CpuInfo | null {
  return loadNative().cpu;
}
