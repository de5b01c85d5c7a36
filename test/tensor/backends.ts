/** The backends a test should run on: js always, native when the addon is built. */
import { nativeKernels, useBackend } from '../../src/kernels/index.ts';

export const BACKENDS: ('js' | 'native')[] = nativeKernels() ? ['js', 'native'] : ['js'];

/** Runs fn with the given backend active, restoring the previous one after. */
export function withBackend<T>(name: 'js' | 'native', fn: () => T): T {
  useBackend(name);
  try {
    return fn();
  } finally {
    useBackend('js');
  }
}
