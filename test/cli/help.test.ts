/**
 * `xfmr COMMAND --help` (or -h) prints the command's usage and does nothing else, for every
 * command `xfmr --help` lists: before, `xfmr recipe --help` started the recipe, which overwrites
 * the shipped model, and `xfmr eval --help` started a ten-minute evaluation.
 */
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { test } from 'node:test';
import { tempDir, xfmr } from './helpers.ts';

test('every command answers --help and -h with its usage, runs nothing and writes nothing', async () => {
  const list = await xfmr(['--help']);
  assert.equal(list.code, 0, list.stderr);
  const names = [...list.stdout.matchAll(/^ {2}(\S+) {2,}/gm)].map((m) => m[1]);
  assert.ok(names.length >= 20 && names.includes('recipe') && names.includes('eval'), names.join(' '));
  const cwd = tempDir('xfmr-help-');
  const runs = names.flatMap((name) => [
    [name, '--help'],
    [name, '-h'],
  ]);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < runs.length) {
      const args = runs[next++];
      const r = await xfmr(args, {}, cwd);
      const what = args.join(' ');
      assert.equal(r.code, 0, `${what}: ${r.stderr}`);
      assert.match(r.stdout, /^usage:/, what);
      assert.ok(r.stdout.includes(`xfmr ${args[0]}`), `${what}: ${r.stdout}`);
      assert.deepEqual(readdirSync(cwd), [], `${what} wrote files`);
    }
  };
  await Promise.all(Array.from({ length: 4 }, worker));
  // after a bare --, --help belongs to the command's positionals: not taken as ours
  const demo = await xfmr(['plot', '--', '--help'], {}, cwd);
  assert.equal(demo.code, 1);
  assert.match(demo.stderr, /--help/);
});
