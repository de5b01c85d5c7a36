// `npm run experiment -- NAME [args]`: runs experiments/NAME.ts. Each experiment prints its table and,
// as its last line, one JSON object with its headline figures.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';

const [name, ...rest] = process.argv.slice(2);
const available = readdirSync('experiments')
  .filter((f) => f.endsWith('.ts') && !f.includes('_'))
  .map((f) => f.slice(0, -3));
if (!name || !existsSync(`experiments/${name}.ts`)) {
  console.error(`usage: npm run experiment -- NAME   (NAME: ${available.join(', ')})`);
  process.exitCode = 1;
} else {
  const r = spawnSync(process.execPath, ['--import', 'tsx', `experiments/${name}.ts`, ...rest], {
    stdio: 'inherit',
  });
  process.exitCode = r.status ?? 1;
}
