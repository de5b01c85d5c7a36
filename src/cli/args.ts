/**
 * A small argument parser for the `xfmr` subcommands: `--name value`, `--name=value`, boolean
 * flags, and positionals. Unknown options are an error that names them.
 */
import { modelPathProblem } from '../models/load_gguf.ts';

export class UsageError extends Error {}

/** Throws a UsageError naming `--model` unless `path` is a model directory or a .gguf file. */
export function requireModelPath(path: string): void {
  const problem = modelPathProblem(path);
  if (problem) throw new UsageError(`--model: ${problem}`);
}

export interface ParsedArgs {
  options: Map<string, string | true>;
  positionals: string[];
}

/** Parses argv against the set of known options; `flags` take no value. */
export function parseArgs(argv: string[], known: { values?: string[]; flags?: string[] }): ParsedArgs {
  const values = new Set(known.values ?? []);
  const flags = new Set([...(known.flags ?? []), 'verbose', 'help']);
  const options = new Map<string, string | true>();
  const positionals: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--') {
      positionals.push(...argv.slice(i + 1));
      break;
    }
    if (!a.startsWith('--') || a === '-') {
      positionals.push(a);
      continue;
    }
    const eq = a.indexOf('=');
    const name = eq >= 0 ? a.slice(2, eq) : a.slice(2);
    if (flags.has(name)) {
      if (eq >= 0) throw new UsageError(`option --${name} takes no value`);
      options.set(name, true);
    } else if (values.has(name)) {
      const v = eq >= 0 ? a.slice(eq + 1) : argv[++i];
      if (v === undefined) throw new UsageError(`option --${name} needs a value`);
      options.set(name, v);
    } else {
      throw new UsageError(`unknown option --${name}`);
    }
  }
  return { options, positionals };
}

export function optString(p: ParsedArgs, name: string): string | undefined {
  const v = p.options.get(name);
  return typeof v === 'string' ? v : undefined;
}

/** One of `choices` (default `fallback`); anything else is a usage error naming the option. */
export function optChoice<T extends string>(
  p: ParsedArgs,
  name: string,
  choices: readonly T[],
  fallback: T,
): T {
  const v = optString(p, name);
  if (v === undefined) return fallback;
  const c = choices.find((x) => x === v);
  if (c === undefined) throw new UsageError(`--${name} must be one of ${choices.join(', ')}, got "${v}"`);
  return c;
}

export function optNumber(p: ParsedArgs, name: string, fallback: number): number {
  const v = optString(p, name);
  if (v === undefined) return fallback;
  const n = Number(v);
  if (!Number.isFinite(n)) throw new UsageError(`--${name} must be a number, got "${v}"`);
  return n;
}

export function optInt(p: ParsedArgs, name: string, fallback: number): number {
  const n = optNumber(p, name, fallback);
  if (!Number.isInteger(n)) throw new UsageError(`--${name} must be an integer, got "${optString(p, name)}"`);
  return n;
}

/** Takes every `--name X` / `--name=X` out of argv (the parser keeps one value per option). */
export function takeRepeated(
  argv: string[],
  name: string,
  values: readonly string[],
): { taken: string[]; rest: string[] } {
  const taken: string[] = [];
  const rest: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--') {
      rest.push(...argv.slice(i));
      break;
    }
    if (a === `--${name}`) {
      if (i + 1 >= argv.length) throw new UsageError(`option --${name} needs a value`);
      taken.push(argv[++i]);
    } else if (a.startsWith(`--${name}=`)) taken.push(a.slice(name.length + 3));
    else {
      rest.push(a);
      if (a.startsWith('--') && !a.includes('=') && values.includes(a.slice(2)) && i + 1 < argv.length)
        rest.push(argv[++i]);
    }
  }
  return { taken, rest };
}
