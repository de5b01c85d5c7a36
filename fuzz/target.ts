/**
 * What a fuzz target is: an input generator (a fast-check arbitrary, structure-aware: it builds
 * nearly valid files and requests and then breaks them, so the inputs get past the first check) and
 * a function that feeds one input to the code under test.
 *
 * The verdict on one input:
 *   - it returns: fine (the parser accepted the input; targets check what they can of the result);
 *   - it throws an error that `clean` accepts: fine (the code's own validation error: an Error that
 *     names the file, field or argument at fault, the shape each target states);
 *   - it throws anything else (a TypeError or RangeError from deep inside, a message naming
 *     nothing): a crash;
 *   - it takes more than `hangMs` of CPU time: a hang;
 *   - the process dies (a native fault, an out-of-memory abort): the runner (scripts/fuzz.js) sees
 *     the child exit without its JSON line and counts a crash.
 */
import fc, { type Arbitrary } from 'fast-check';

export interface FuzzTarget<T> {
  name: string;
  /** One line: what is fed to what. */
  what: string;
  arbitrary: Arbitrary<T>;
  /** Feeds one input; throws what the code under test throws. */
  run(input: T): void | Promise<void>;
  /** True for the code's own validation error (see the header); the reason otherwise. */
  clean(e: unknown, input: T): true | string;
  /** A call that takes more CPU time than this is a hang (ms). */
  hangMs: number;
  /** Called once before the first input and after the last (temp dirs, servers). */
  setup?(): void | Promise<void>;
  teardown?(): void | Promise<void>;
}

/** A helper for `clean`: an Error (or a named subclass, never TypeError/RangeError) whose message names `what`. */
export function namedError(e: unknown, ...what: string[]): true | string {
  if (!(e instanceof Error)) return `threw a non-Error: ${String(e)}`;
  if (e instanceof TypeError || e instanceof RangeError || e instanceof SyntaxError)
    return `${e.constructor.name} from inside: ${e.message}`;
  if (what.length > 0 && !what.some((w) => e.message.includes(w)))
    return `the message names none of ${what.join(', ')}: ${e.message}`;
  return true;
}

/** A short printable form of an input for reports (fast-check's stringify: bigints, typed arrays, null prototypes), cut. */
export function preview(v: unknown, max = 400): string {
  const s = fc.stringify(v);
  return s.length > max ? `${s.slice(0, max)}... (${s.length} chars)` : s;
}
