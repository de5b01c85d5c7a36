/**
 * OpenAI-style errors and request parsing shared by the API routes: every failure answers
 * `{"error": {"message", "type", "param", "code"}}` with its HTTP status (400 never 422, 401 no or
 * wrong API key (auth.ts), 404 unknown model, 413 too large, 429 overloaded, 503 shutting down).
 */
import type { z } from 'zod';
import { QueueFullError, SchedulerClosedError } from './scheduler.ts';

export type ErrorStatus = 400 | 401 | 404 | 413 | 429 | 500 | 503;

export interface ErrorBody {
  error: { message: string; type: string; param: string | null; code: string | null };
}

/** An error that answers with its status and OpenAI's error JSON. */
export class ApiError extends Error {
  constructor(
    readonly status: ErrorStatus,
    message: string,
    readonly type = 'invalid_request_error',
    readonly param: string | null = null,
    readonly code: string | null = null,
  ) {
    super(message);
  }
  body(): ErrorBody {
    return { error: { message: this.message, type: this.type, param: this.param, code: this.code } };
  }
}

/** Any thrown value as an ApiError (unknown errors are 500 server_error). */
export function toApiError(e: unknown): ApiError {
  if (e instanceof ApiError) return e;
  const message = e instanceof Error ? e.message : String(e);
  return new ApiError(500, message || 'internal error', 'server_error');
}

/** What Scheduler.submit threw: a full queue is 429, shutting down 503, invalid options 400. */
export function submitError(e: unknown): ApiError {
  if (e instanceof ApiError) return e;
  if (e instanceof QueueFullError)
    return new ApiError(429, e.message, 'rate_limit_error', null, 'queue_full');
  if (e instanceof SchedulerClosedError)
    return new ApiError(503, e.message, 'server_error', null, 'shutting_down');
  return bad((e as Error).message);
}

export function unknownModel(id: string): ApiError {
  return new ApiError(
    404,
    `The model '${id}' does not exist`,
    'invalid_request_error',
    'model',
    'model_not_found',
  );
}

export function bad(
  message: string,
  param: string | null = null,
  code: string | null = 'invalid_value',
): ApiError {
  return new ApiError(400, message, 'invalid_request_error', param, code);
}

/** Parses a body against a schema, or throws 400 naming the first bad field. */
export function parse<T>(schema: z.ZodType<T>, body: unknown): T {
  const r = schema.safeParse(body);
  if (r.success) return r.data;
  const issue = r.error.issues[0];
  const param = issue.path.length > 0 ? issue.path.map(String).join('.') : null;
  throw bad(`${param ?? 'body'}: ${issue.message}`, param);
}

/** The request's body as JSON, or 400 invalid_json. (Its size was bounded by the bodyLimit middleware.) */
export async function readJson(req: Request): Promise<unknown> {
  const text = await req.text();
  try {
    return JSON.parse(text);
  } catch (e) {
    throw bad(`the body is not valid JSON: ${(e as Error).message}`, null, 'invalid_json');
  }
}
