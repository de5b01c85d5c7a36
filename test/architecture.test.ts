/**
 * The layering of ARCHITECTURE.md, checked on the import statements of src/: static
 * `import ... from`, `export ... from`, side-effect imports and dynamic or type-position
 * `import('...')`, type-only imports included (a type import still ties one layer to the other).
 * TypeScript's own pre-processor finds them, so imports inside comments and strings do not count.
 *
 * Each failing rule lists every offending file:line and the import it makes.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
const SRC = join(ROOT, 'src');

interface Import {
  /** The importing file, relative to the repository root (src/...). */
  file: string;
  line: number;
  /** The specifier as written. */
  spec: string;
  /** The imported file relative to src/ ("io/safetensors.ts"); null for packages and node: modules. */
  target: string | null;
}

function walk(dir: string): string[] {
  return readdirSync(dir)
    .sort()
    .flatMap((name) => {
      const p = join(dir, name);
      if (statSync(p).isDirectory()) return walk(p);
      return /\.[cm]?tsx?$/.test(name) && !name.endsWith('.d.ts') ? [p] : [];
    });
}

const posix = (p: string): string => p.split(sep).join('/');

function importsOf(path: string): Import[] {
  const text = readFileSync(path, 'utf8');
  const { importedFiles } = ts.preProcessFile(text, true, true);
  return importedFiles.map((f) => {
    const line = text.slice(0, f.pos).split('\n').length;
    const target = f.fileName.startsWith('.')
      ? posix(relative(SRC, resolve(dirname(path), f.fileName)))
      : null;
    return { file: posix(relative(ROOT, path)), line, spec: f.fileName, target };
  });
}

const IMPORTS: Import[] = walk(SRC).flatMap(importsOf);

/** The top folder under src/ of a file ("src/nn/linear.ts" -> "nn"; "io/x.ts" -> "io"). */
const layerOfFile = (file: string): string => file.replace(/^src\//, '').split('/')[0];
const layerOfTarget = (imp: Import): string | null =>
  imp.target === null || imp.target.startsWith('..') ? null : imp.target.split('/')[0];

function check(rule: string, bad: (imp: Import) => boolean): void {
  const found = IMPORTS.filter(bad).map((i) => `  ${i.file}:${i.line} imports '${i.spec}'`);
  assert.equal(found.length, 0, `${rule}:\n${found.join('\n')}`);
}

test('the scanner sees static, re-export, dynamic and type-position imports', () => {
  const has = (file: string, spec: string) => IMPORTS.some((i) => i.file === file && i.spec === spec);
  assert.ok(has('src/tensor/ops/gemm.ts', '../../kernels/index.ts'), 'static import');
  assert.ok(has('src/io/index.ts', './safetensors.ts'), 'export * from');
  assert.ok(has('src/cli/serve.ts', '../serve/server.ts'), 'dynamic import()');
  assert.ok(
    IMPORTS.some((i) => i.file === 'src/io/safetensors.ts' && i.target === 'io/files.ts'),
    'a resolved target',
  );
  assert.ok(IMPORTS.length > 500, `only ${IMPORTS.length} imports found`);
});

test('tensor, kernels and nn import nothing above them, and not io', () => {
  const above = new Set(['io', 'models', 'train', 'generate', 'serve', 'rag', 'cli', 'recipe', 'tokenizers']);
  check(
    'src/tensor, src/kernels and src/nn must not import io, models, train, generate, serve, rag, cli, recipe or tokenizers',
    (i) => ['tensor', 'kernels', 'nn'].includes(layerOfFile(i.file)) && above.has(layerOfTarget(i) ?? ''),
  );
});

test('nn and models reach kernels only through tensor ops', () => {
  check(
    'src/nn and src/models must not import src/kernels (use a tensor op)',
    (i) => ['nn', 'models'].includes(layerOfFile(i.file)) && layerOfTarget(i) === 'kernels',
  );
});

test('within models, only load*.ts imports io', () => {
  check(
    'only src/models/load*.ts may import src/io',
    (i) =>
      layerOfFile(i.file) === 'models' &&
      !/^src\/models\/load[^/]*\.ts$/.test(i.file) &&
      layerOfTarget(i) === 'io',
  );
});

test('nothing outside cli imports the CLI', () => {
  check(
    'only src/cli may import src/cli (the recipe and the server call the library)',
    (i) => layerOfFile(i.file) !== 'cli' && layerOfTarget(i) === 'cli',
  );
});

test('io imports no train, generate, serve, rag, cli or recipe', () => {
  const banned = new Set(['train', 'generate', 'serve', 'rag', 'cli', 'recipe']);
  check(
    'src/io must not import train, generate, serve, rag, cli or recipe',
    (i) => layerOfFile(i.file) === 'io' && banned.has(layerOfTarget(i) ?? ''),
  );
});
