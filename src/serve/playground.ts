/**
 * The web playground and dashboard routes, mounted at `/` by createApp (src/serve/app.ts).
 * (Stub: filled in by the playground work of issue 8.)
 */
import { Hono } from 'hono';
import type { AppOptions, ServeModel } from './app.ts';

export function playgroundRoutes(_m: ServeModel, _opts: AppOptions): Hono {
  return new Hono();
}
