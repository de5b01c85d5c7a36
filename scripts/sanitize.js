// Runs the native parity tests and the kernel fuzz target against the sanitizer build of the addon
// (AddressSanitizer + UndefinedBehaviorSanitizer), built first with
// `XFMR_SANITIZE=1 node scripts/build-native.js` into build-sanitize/.
//
//   node scripts/sanitize.js [--seconds N]      parity tests, then N s (default 60) of kernel fuzzing
//   node scripts/sanitize.js -- CMD ARGS...     any command under the same environment
//
// The environment: LD_PRELOAD of gcc's libasan (an ASan library loaded by dlopen must find the
// runtime already first in the process), XFMR_ADDON pointing at the sanitized addon,
// ASAN_OPTIONS=detect_leaks=0 (Node itself leaks at exit, which is not ours to report),
// UBSAN_OPTIONS=halt_on_error=1 (undefined behaviour ends the run, with a stack), and
// XFMR_FUZZ_EXACT=1 (the kernel fuzz target gives each array its own allocation, so ASan guards
// its ends, instead of the canary padding it uses without the sanitizer).
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';

const addon = resolve('build-sanitize/build/Release/xfmr.node');
if (!existsSync(addon)) {
  console.error(`${addon} is missing: build it with XFMR_SANITIZE=1 node scripts/build-native.js`);
  process.exit(2);
}
const libasan = spawnSync('gcc', ['-print-file-name=libasan.so'], { encoding: 'utf8' }).stdout.trim();
if (!libasan || !existsSync(libasan)) {
  console.error(`gcc does not know libasan.so (got "${libasan}"): install gcc's sanitizer runtime (libasan)`);
  process.exit(2);
}
const env = {
  ...process.env,
  LD_PRELOAD: libasan,
  XFMR_ADDON: addon,
  XFMR_REQUIRE_NATIVE: '1',
  XFMR_FUZZ_EXACT: '1',
  ASAN_OPTIONS: 'detect_leaks=0:abort_on_error=1',
  UBSAN_OPTIONS: 'halt_on_error=1:print_stacktrace=1',
};

function step(label, cmd, args) {
  console.error(`\n== ${label}: ${[cmd, ...args].join(' ')}`);
  const r = spawnSync(cmd, args, { stdio: 'inherit', env });
  console.error(`== ${label}: ${r.status === 0 ? 'ok' : `FAILED (exit ${r.status}, signal ${r.signal})`}`);
  return r.status === 0;
}

const dash = process.argv.indexOf('--');
if (dash >= 0) {
  const [cmd, ...args] = process.argv.slice(dash + 1);
  process.exitCode = step('command', cmd, args) ? 0 : 1;
} else {
  const i = process.argv.indexOf('--seconds');
  const seconds = i >= 0 ? process.argv[i + 1] : '60';
  // The native parity tests: every kernel against its js twin on awkward shapes.
  const parity = step('native parity tests', process.execPath, [
    'scripts/test.js',
    'test/kernels/native_parity',
  ]);
  const fuzz = step('kernel fuzz target', process.execPath, [
    'scripts/fuzz.js',
    '--target',
    'kernels',
    '--seconds',
    seconds,
  ]);
  process.exitCode = parity && fuzz ? 0 : 1;
}
