/**
 * The security options of `xfmr serve` (and `xfmr start`, which passes them on): the API key, the
 * refusal to serve other machines without one, CORS and the connection timeouts.
 *
 *   --api-key KEY            require `Authorization: Bearer KEY` on /v1/* and /api/*; XFMR_API_KEY
 *                            in the environment when the flag is absent (keeps the key out of `ps`)
 *   --no-auth                serve a non-loopback --host without a key (on purpose: a trusted
 *                            network, or a proxy in front that authenticates)
 *   --cors ORIGIN            the one web origin allowed to call the API from a browser
 *   --headers-timeout S      seconds for a client to send its headers (default 10)
 *   --request-timeout S      seconds for a client to send its whole request (default 30)
 *   --keep-alive-timeout S   seconds an idle keep-alive connection stays open (default 5)
 *
 * Binding a non-loopback address without a key lets anyone who can reach it run the model, so it
 * is refused unless --no-auth says so; the default host, 127.0.0.1, needs nothing.
 */
import { isIP } from 'node:net';
import { optNumber, optString, type ParsedArgs, UsageError } from './args.ts';

export const SECURITY_VALUES = [
  'api-key',
  'cors',
  'headers-timeout',
  'request-timeout',
  'keep-alive-timeout',
] as const;
export const SECURITY_FLAGS = ['no-auth'] as const;

export const SECURITY_USAGE =
  '[--api-key KEY | --no-auth] [--cors ORIGIN] [--headers-timeout 10] [--request-timeout 30] [--keep-alive-timeout 5]';

export const SECURITY_HELP =
  '  --api-key KEY: require "Authorization: Bearer KEY" on /v1/* and /api/* (401 otherwise); ' +
  'default: XFMR_API_KEY from the environment, else no key\n' +
  '  --no-auth: allow a --host other than loopback (127.0.0.1, ::1, localhost) without a key; ' +
  'without it such a host needs a key\n' +
  '  --cors ORIGIN: send CORS headers for this one origin (e.g. https://app.example.com); default: none\n' +
  '  --headers-timeout S, --request-timeout S, --keep-alive-timeout S: seconds a client has to send ' +
  'its headers (10) and its whole request (30), and an idle connection stays open (5)\n';

/** What securityOptions gives startServer. */
export interface SecurityOptions {
  apiKey?: string;
  corsOrigin?: string;
  headersTimeoutMs?: number;
  requestTimeoutMs?: number;
  keepAliveTimeoutMs?: number;
}

/**
 * A --cors value as an origin: scheme://host[:port], no path. "*" is refused: a key-less server would
 * then be usable from any web page that a user of this machine visits.
 */
export function parseOrigin(value: string): string {
  let u: URL;
  try {
    u = new URL(value);
  } catch {
    throw new UsageError(`--cors: "${value}" is not an origin (e.g. https://app.example.com)`);
  }
  if ((u.protocol !== 'http:' && u.protocol !== 'https:') || u.origin !== value.replace(/\/$/, ''))
    throw new UsageError(
      `--cors: "${value}" is not an origin: give scheme://host[:port] only (e.g. ${u.origin})`,
    );
  return u.origin;
}

/** Whether `host` only accepts connections from this machine. */
export function isLoopback(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '').toLowerCase();
  if (h === 'localhost' || h === '::1') return true;
  if (isIP(h) === 4) return h.startsWith('127.');
  return h.startsWith('::ffff:127.');
}

function seconds(a: ParsedArgs, name: string): number | undefined {
  if (!a.options.has(name)) return undefined;
  const s = optNumber(a, name, 0);
  if (!(s > 0) || s > 86_400) throw new UsageError(`--${name} must be in (0, 86400] seconds, got ${s}`);
  return Math.round(s * 1000);
}

/** The security options of the parsed flags (and XFMR_API_KEY) for a server on `host`. */
export function securityOptions(a: ParsedArgs, host: string): SecurityOptions {
  const flag = optString(a, 'api-key');
  if (flag !== undefined && flag === '') throw new UsageError('--api-key must not be empty');
  const env = process.env.XFMR_API_KEY;
  const apiKey = flag ?? (env !== undefined && env !== '' ? env : undefined);
  const noAuth = a.options.has('no-auth');
  if (noAuth && apiKey !== undefined)
    throw new UsageError(
      `--no-auth contradicts ${flag !== undefined ? '--api-key' : 'XFMR_API_KEY'}: give one or the other`,
    );
  if (apiKey === undefined && !noAuth && !isLoopback(host))
    throw new UsageError(
      `--host ${host} serves other machines: give --api-key KEY (or XFMR_API_KEY) so that only clients ` +
        'with the key can use it, or --no-auth to serve it without one',
    );
  const cors = optString(a, 'cors');
  const corsOrigin = cors !== undefined ? parseOrigin(cors) : undefined;
  return {
    apiKey,
    corsOrigin,
    headersTimeoutMs: seconds(a, 'headers-timeout'),
    requestTimeoutMs: seconds(a, 'request-timeout'),
    keepAliveTimeoutMs: seconds(a, 'keep-alive-timeout'),
  };
}

/** The stderr line saying what is protected (never the key itself). */
export function securityLine(s: SecurityOptions): string {
  const auth = s.apiKey !== undefined ? 'API key required on /v1/* and /api/*' : 'no API key';
  return `${auth}; CORS ${s.corsOrigin ?? 'off'}`;
}
