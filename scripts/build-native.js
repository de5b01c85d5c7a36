// `npm install` hook: build the native addon with node-gyp. A failed build is not fatal: xfmr
// then runs on its pure-TypeScript kernels and says so once, here and at run time. In CI
// (XFMR_REQUIRE_NATIVE=1, set by .ci/run) it is fatal, so a broken build cannot pass unnoticed.
//
// `node scripts/build-native.js bench/native` builds the bench-only addon there instead (the FMA
// peak of `npm run bench -- peak`); a failure then always exits non-zero.
//
// `XFMR_SANITIZE=1 node scripts/build-native.js` builds the addon with AddressSanitizer and
// UndefinedBehaviorSanitizer (-fsanitize=address,undefined -fno-omit-frame-pointer -O1 -g) into
// build-sanitize/ (build/ is untouched). It loads only with libasan preloaded: scripts/sanitize.js
// runs the native parity tests and the kernel fuzz target under it.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, relative, resolve } from 'node:path';

const sanitize = process.env.XFMR_SANITIZE === '1' && process.argv[2] === undefined;
if (sanitize) {
  // binding.gyp with the sources one folder up and the sanitizer flags added.
  const gyp = JSON.parse(readFileSync('binding.gyp', 'utf8'));
  const t = gyp.targets[0];
  t.sources = t.sources.map((s) => `../${s}`);
  const flags = [
    '-fsanitize=address,undefined',
    '-fno-omit-frame-pointer',
    '-fno-sanitize-recover=all',
    '-g',
  ];
  t.cflags_cc = [...t.cflags_cc.filter((f) => f !== '-O3'), '-O1', ...flags];
  t['cflags_cc!'] = [...t['cflags_cc!'], '-O3'];
  t.ldflags = [...t.ldflags, '-fsanitize=address,undefined'];
  mkdirSync('build-sanitize', { recursive: true });
  writeFileSync('build-sanitize/binding.gyp', `${JSON.stringify(gyp, null, 2)}\n`);
}
const dir = resolve(sanitize ? 'build-sanitize' : (process.argv[2] ?? '.'));
const main = process.argv[2] === undefined && !sanitize;
const required = process.env.XFMR_REQUIRE_NATIVE === '1';

if (main && process.env.XFMR_SKIP_NATIVE === '1') {
  if (required) {
    console.error('xfmr: XFMR_SKIP_NATIVE=1 and XFMR_REQUIRE_NATIVE=1 contradict each other.');
    process.exit(1);
  }
  console.log('xfmr: XFMR_SKIP_NATIVE=1, not building the native addon (the js backend will be used).');
  process.exit(0);
}
// npm exposes its bundled node-gyp to lifecycle scripts; run by hand, look for it beside npm.
function findNodeGyp() {
  const candidates = [
    process.env.npm_config_node_gyp,
    process.env.npm_execpath &&
      join(dirname(process.env.npm_execpath), '..', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'),
    join(
      dirname(process.execPath),
      '..',
      'lib',
      'node_modules',
      'npm',
      'node_modules',
      'node-gyp',
      'bin',
      'node-gyp.js',
    ),
  ];
  return candidates.find((c) => c && existsSync(c));
}
const nodeGyp = findNodeGyp();
// Offline, node-gyp must find Node's headers locally instead of downloading them.
const localHeaders = resolve(dirname(process.execPath), '..');
const nodedir =
  process.env.npm_config_nodedir ||
  (existsSync(join(localHeaders, 'include', 'node', 'node_api.h')) ? localHeaders : undefined);
const args = ['rebuild', ...(nodedir ? [`--nodedir=${nodedir}`] : [])];
const opts = { stdio: 'inherit', cwd: dir };
const gyp = nodeGyp
  ? spawnSync(process.execPath, [nodeGyp, ...args], opts)
  : spawnSync('node-gyp', args, { ...opts, shell: process.platform === 'win32' });

const target = main || sanitize ? 'xfmr.node' : 'xfmr_bench.node';
const built = join(dir, 'build', 'Release', target);
let problem = gyp.status === 0 ? null : gyp.error ? gyp.error.message : `node-gyp exit ${gyp.status}`;
if (!problem && !existsSync(built)) problem = `${built} is missing after the build`;
if (!problem && !sanitize) {
  // A library that links but cannot load (a missing symbol) is as broken as no library. (The
  // sanitizer build loads only with libasan preloaded: scripts/sanitize.js checks it.)
  try {
    createRequire(import.meta.url)(built);
  } catch (e) {
    problem = `${built} does not load: ${e.message}`;
  }
}
if (!problem) {
  console.log(`xfmr: native addon built (${relative(process.cwd(), built)}).`);
} else if (!main || required) {
  console.error(
    `xfmr: ERROR: the native addon did not build (${problem})` +
      (main ? '; XFMR_REQUIRE_NATIVE=1 makes this fatal.' : '.'),
  );
  process.exit(1);
} else {
  console.warn(
    `xfmr: WARNING: the native addon did not build (${problem}); xfmr will run on the ` +
      'pure-TypeScript backend, which is correct but much slower. ' +
      'Install g++, make and python3, then run `npm rebuild xfmr` or `node scripts/build-native.js`.',
  );
}
