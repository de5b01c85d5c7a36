/**
 * Native tests skip when the addon is not built, so that `npm test` passes on a machine without a
 * compiler (xfmr then runs on js). Where the addon is required they fail instead: in CI a build
 * that broke would otherwise pass as a run of skips. Required: XFMR_REQUIRE_NATIVE=1 (.ci/run sets
 * it) or CI set (as CI services do).
 */
import { type Kernels, nativeKernels } from '../../src/kernels/index.ts';
import { loadNative } from '../../src/kernels/native.ts';

export const NATIVE_REQUIRED = process.env.XFMR_REQUIRE_NATIVE === '1' || Boolean(process.env.CI);

/** The `skip` option of a test that needs the addon: why it skips, or false (it runs). */
export function skipWithoutNative(): string | false {
  if (nativeKernels() || NATIVE_REQUIRED) return false;
  return `native addon not built (${loadNative().error}); run \`node scripts/build-native.js\``;
}

/** The native kernels; throws, naming the reason, when the addon is missing (a required run). */
export function requireNative(): Kernels {
  const k = nativeKernels();
  if (!k)
    throw new Error(
      `the native addon is required here (XFMR_REQUIRE_NATIVE=1 or CI) but unavailable: ${loadNative().error}`,
    );
  return k;
}
