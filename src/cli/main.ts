/**
 * `xfmr` entry point: dispatches to one file per subcommand. Errors print one line on stderr
 * (a stack trace only with --verbose or XFMR_DEBUG=1) and set a non-zero exit code; we never call
 * process.exit() so large outputs drain through pipes.
 */
import { readFileSync } from 'node:fs';
import { UsageError } from './args.ts';

type Command = (argv: string[]) => Promise<void>;

const commands: Record<string, { describe: string; load: () => Promise<Command> }> = {
  info: { describe: 'backend, CPU features and threads', load: async () => (await import('./info.ts')).run },
  pretrain: {
    describe: 'pretrain a decoder on token shards',
    load: async () => (await import('./pretrain.ts')).run,
  },
  start: {
    describe: 'the main job on its embedded defaults (npm start)',
    load: async () => (await import('./start.ts')).run,
  },
};

function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
    version: string;
  };
  return pkg.version;
}

function usage(): string {
  const lines = Object.entries(commands).map(([name, c]) => `  ${name.padEnd(12)} ${c.describe}`);
  return `xfmr ${version()}: a language-model stack in TypeScript\n\nusage: xfmr COMMAND [options]\n\n${lines.join('\n')}\n`;
}

async function main(argv: string[]): Promise<void> {
  const [name, ...rest] = argv;
  if (name === '--version' || name === '-v') {
    process.stdout.write(`${version()}\n`);
    return;
  }
  if (!name || name === '--help' || name === 'help') {
    process.stdout.write(usage());
    return;
  }
  const cmd = commands[name];
  if (!cmd) throw new UsageError(`unknown command "${name}" (run xfmr --help)`);
  await (await cmd.load())(rest);
}

const verbose = process.argv.includes('--verbose') || process.env.XFMR_DEBUG === '1';
main(process.argv.slice(2)).catch((e: unknown) => {
  const err = e as Error;
  process.stderr.write(`xfmr: ${err.message}\n`);
  if (verbose && err.stack) process.stderr.write(`${err.stack}\n`);
  process.exitCode = e instanceof UsageError ? 2 : 1;
});
