// `npm install` hook: build the native addon with node-gyp. A failed build is not fatal: xfmr
// then runs on its pure-TypeScript kernels and says so once, here and at run time.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';

if (process.env.XFMR_SKIP_NATIVE === '1') {
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
const gyp = nodeGyp
  ? spawnSync(process.execPath, [nodeGyp, ...args], { stdio: 'inherit' })
  : spawnSync('node-gyp', args, { stdio: 'inherit', shell: process.platform === 'win32' });
if (gyp.status === 0 && existsSync('build/Release/xfmr.node')) {
  console.log('xfmr: native addon built (build/Release/xfmr.node).');
} else {
  console.warn(
    'xfmr: WARNING: the native addon did not build (' +
      (gyp.error ? gyp.error.message : `node-gyp exit ${gyp.status}`) +
      '); xfmr will run on the pure-TypeScript backend, which is correct but much slower. ' +
      'Install g++, make and python3, then run `npm rebuild xfmr` or `node scripts/build-native.js`.',
  );
}
