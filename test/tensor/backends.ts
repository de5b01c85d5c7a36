/**
 * The backends a test should run on: js always, native when the addon is built. Where the addon is
 * required (XFMR_REQUIRE_NATIVE=1 or CI, see test/kernels/require_native.ts) native is always in
 * the list, so a missing addon fails every op test instead of quietly testing js alone.
 */
import { nativeKernels, useBackend } from '../../src/kernels/index.ts';
import { NATIVE_REQUIRED } from '../kernels/require_native.ts';

export const BACKENDS: ('js' | 'native')[] = nativeKernels() || NATIVE_REQUIRED ? ['js', 'native'] : ['js'];

/** Runs fn with the given backend active, restoring the previous one after. */
export function withBackend<T>(name: 'js' | 'native', fn: () => T): T {
  useBackend(name);
  try {
    return fn();
  } finally {
    useBackend('js');
  }
}
