/**
 * Who may use the server: an API key on the API, and which other web origin (if any) may call it
 * from a browser.
 *
 *   apiKeyAuth(key)  every request under /v1/ and /api/ must carry `Authorization: Bearer KEY`, as
 *                    with OpenAI, llama.cpp's server and vLLM; a missing or wrong key answers 401
 *                    with OpenAI's error JSON (code "invalid_api_key") and `WWW-Authenticate:
 *                    Bearer`. The playground's page and files stay public: the page asks for the
 *                    key and sends it (playground.js). /api/ is guarded too because its routes run
 *                    the model (attention) or read the training log (metrics).
 *   corsFor(origin)  CORS headers for exactly one origin, preflights included; without it the
 *                    server sends no CORS headers, so browsers keep other sites' pages from
 *                    reading its answers.
 *
 * The key is compared in constant time: both sides are hashed (SHA-256) to equal-length digests,
 * then compared with crypto.timingSafeEqual, so neither the key's length nor its first wrong
 * byte shows in the response time.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { Context, MiddlewareHandler } from 'hono';
import { cors } from 'hono/cors';
import { ApiError } from './errors.ts';

/** The paths the key guards (everything but the playground's page and its static files). */
export const GUARDED_PATHS = ['/v1/*', '/api/*'] as const;

const digest = (s: string): Buffer => createHash('sha256').update(s, 'utf8').digest();

/** Whether `given` equals `key`, in time independent of where they differ and of their lengths. */
export function sameKey(given: string, key: string): boolean {
  return timingSafeEqual(digest(given), digest(key));
}

function unauthorized(c: Context, message: string): Response {
  c.header('WWW-Authenticate', 'Bearer');
  const e = new ApiError(401, message, 'invalid_request_error', null, 'invalid_api_key');
  return c.json(e.body(), 401);
}

/** Middleware requiring `Authorization: Bearer KEY` (see the file comment). `key` must not be empty. */
export function apiKeyAuth(key: string): MiddlewareHandler {
  if (key === '') throw new Error('apiKeyAuth: the API key must not be empty');
  return async (c, next) => {
    // a CORS preflight carries no credentials by design; corsFor (before this) answers it
    if (c.req.method === 'OPTIONS') return next();
    const header = c.req.header('authorization');
    if (header === undefined || header === '')
      return unauthorized(
        c,
        "You didn't provide an API key. You need to provide your API key in an Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).",
      );
    const m = /^Bearer\s+(.+)$/i.exec(header);
    if (m === null || !sameKey(m[1].trim(), key)) return unauthorized(c, 'Incorrect API key provided.');
    return next();
  };
}

/** CORS for one origin ("https://app.example.com"), preflights answered (204) before any auth. */
export function corsFor(origin: string): MiddlewareHandler {
  return cors({
    origin: (o) => (o === origin ? o : null),
    allowMethods: ['GET', 'POST', 'OPTIONS'],
    allowHeaders: ['authorization', 'content-type'],
    maxAge: 600,
  });
}
