// `npm test`: runs every test/**/*.test.ts with Node's built-in runner (TypeScript through tsx).
// Extra arguments narrow the run: `npm test -- test/tensor` or `npm test -- attention`.
import { spawnSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

function walk(dir) {
  return readdirSync(dir)
    .sort()
    .flatMap((name) => {
      const p = join(dir, name);
      if (statSync(p).isDirectory()) return name === 'fixtures' ? [] : walk(p);
      return name.endsWith('.test.ts') ? [p] : [];
    });
}

const filters = process.argv.slice(2);
const files = walk('test').filter((f) => filters.length === 0 || filters.some((x) => f.includes(x)));
if (files.length === 0) {
  console.error(`no test files match ${filters.join(' ')}`);
  process.exit(1);
}
const r = spawnSync(process.execPath, ['--import', 'tsx', '--test', '--test-concurrency=1', ...files], {
  stdio: 'inherit',
});
process.exitCode = r.status ?? 1;
