// `npm run bench -- NAME [args]`: runs bench/NAME.ts. Each benchmark prints its figures and, as its
// last line, one JSON object with them. --expose-gc lets a bench measure memory after a collection.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';

const [name, ...rest] = process.argv.slice(2);
const available = readdirSync('bench')
  .filter((f) => f.endsWith('.ts') && !f.startsWith('_'))
  .map((f) => f.slice(0, -3));
if (!name || !existsSync(`bench/${name}.ts`)) {
  console.error(`usage: npm run bench -- NAME   (NAME: ${available.join(', ')})`);
  process.exitCode = 1;
} else {
  const r = spawnSync(process.execPath, ['--expose-gc', '--import', 'tsx', `bench/${name}.ts`, ...rest], {
    stdio: 'inherit',
  });
  process.exitCode = r.status ?? 1;
}
