/**
 * The web playground and dashboard, mounted at `/` by createApp (src/serve/app.ts):
 *
 *   GET  /                    the page (src/serve/playground/index.html)
 *   GET  /playground/NAME     its script and style sheet (only the files of that folder, by name)
 *   GET  /api/info            the model: id, architecture, and whether RAG and metrics are configured
 *   POST /api/attention       {text, layer, head} -> {tokens, layer, head, weights [T][T]}
 *   GET  /api/metrics?since=N the training metrics JSONL from line N on: {records, next, reset}
 *
 * The page itself talks to the OpenAI-compatible routes for chat and RAG; these routes add what
 * those do not have. Errors answer OpenAI-style JSON through ApiError.
 */
import { closeSync, fstatSync, openSync, readdirSync, readFileSync, readSync } from 'node:fs';
import { extname } from 'node:path';
import { Hono } from 'hono';
import { z } from 'zod';
import { attentionMap } from '../../models/attention_map.ts';
import { DecoderLM } from '../../models/decoder.ts';
import type { AppOptions, ServeModel } from '../app.ts';
import { ApiError } from '../errors.ts';

/** Longest prompt the attention view takes: a [T][T] map of 64 tokens is 4096 numbers. */
export const ATTENTION_MAX_TOKENS = 64;
/** Most metrics records in one answer; the client asks again from `next` for the rest. */
export const METRICS_MAX_RECORDS = 5000;

const ASSETS = new URL('../playground/', import.meta.url);
const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
};
// Everything the page loads comes from this server; nothing from the internet.
const CSP =
  "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
  "base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/** What GET /api/info answers. */
export interface PlaygroundInfo {
  id: string;
  architecture: {
    arch: string | null;
    layers: number | null;
    heads: number | null;
    kv_heads: number | null;
    d_model: number | null;
    head_dim: number | null;
    context_length: number;
    vocab_size: number;
    position: string | null;
  };
  chat_template: boolean;
  /** The attention view works (the model is a DecoderLM). */
  attention: boolean;
  attention_max_tokens: number;
  rag: boolean;
  metrics: boolean;
}

/** What POST /api/attention answers. */
export interface AttentionResponse {
  tokens: string[];
  layer: number;
  head: number;
  weights: number[][];
}

/** What GET /api/metrics answers. */
export interface MetricsResponse {
  records: Record<string, unknown>[];
  /** The line to ask from next time. */
  next: number;
  /** The file was replaced or truncated since `since` (a new run): records start again at line 0. */
  reset: boolean;
  /** Complete lines that were not JSON objects (skipped, but counted in `next`). */
  skipped: number;
  /** More complete lines wait beyond `next` (an answer holds at most METRICS_MAX_RECORDS lines). */
  more: boolean;
}

/** The asset files by name (a fixed list, read once: a request can only name one of them). */
function listAssets(): Map<string, string> {
  const files = new Map<string, string>();
  for (const name of readdirSync(ASSETS)) {
    const type = CONTENT_TYPES[extname(name)];
    if (type && /^[\w.-]+$/.test(name)) files.set(name, type);
  }
  return files;
}

const attentionSchema = z.object({
  text: z.string(),
  layer: z.number().int(),
  head: z.number().int(),
});

function badField(param: string, message: string, code = 'invalid_value'): ApiError {
  return new ApiError(400, `${param}: ${message}`, 'invalid_request_error', param, code);
}

/**
 * Reads a JSONL file that another process appends to, by line number. Byte offsets of complete
 * lines are kept between calls, so a poll reads only what is new. A replaced file (another inode,
 * as an atomic rewrite makes) or a shorter one starts over.
 */
export class JsonlTail {
  private ino = -1;
  /** starts[i]: byte offset of line i; starts[n] is the end of the last complete line. */
  private starts: number[] = [0];
  constructor(readonly path: string) {}

  read(since: number, max = METRICS_MAX_RECORDS): MetricsResponse {
    const fd = openSync(this.path, 'r');
    try {
      const st = fstatSync(fd);
      const scanned = this.starts[this.starts.length - 1];
      if (st.ino !== this.ino || st.size < scanned) {
        this.ino = st.ino;
        this.starts = [0];
      }
      this.scan(fd, st.size);
      const complete = this.starts.length - 1;
      // A last line without its newline counts only when it is a whole JSON object (a prefix of an
      // object never is), so a half-written record waits for the next poll.
      const tailStart = this.starts[complete];
      const tail =
        tailStart < st.size ? parseRecord(readRange(fd, tailStart, st.size).toString('utf8')) : null;
      const available = complete + (tail ? 1 : 0);
      const reset = since > available;
      const from = reset ? 0 : Math.min(since, complete);
      const to = Math.min(complete, from + max);
      const lines = readRange(fd, this.starts[from], this.starts[to])
        .toString('utf8')
        .split('\n')
        .slice(0, to - from);
      const records: Record<string, unknown>[] = [];
      let skipped = 0;
      for (const line of lines) {
        const r = parseRecord(line);
        if (r) records.push(r);
        else if (line.trim() !== '') skipped++;
      }
      let next = to;
      if (tail && to === complete) {
        if (from === complete && since === available)
          next = available; // already sent
        else {
          records.push(tail);
          next = available;
        }
      }
      return { records, next, reset, skipped, more: to < complete };
    } finally {
      closeSync(fd);
    }
  }

  /** Extends the line offsets up to the last newline before `size`. */
  private scan(fd: number, size: number): void {
    const buf = Buffer.alloc(1 << 16);
    let at = this.starts[this.starts.length - 1];
    while (at < size) {
      const n = readSync(fd, buf, 0, Math.min(buf.length, size - at), at);
      if (n <= 0) break;
      for (let i = 0; i < n; i++) if (buf[i] === 0x0a) this.starts.push(at + i + 1);
      at += n;
    }
  }
}

function readRange(fd: number, start: number, end: number): Buffer {
  const buf = Buffer.alloc(end - start);
  let off = 0;
  while (off < buf.length) {
    const n = readSync(fd, buf, off, buf.length - off, start + off);
    if (n <= 0) break;
    off += n;
  }
  return buf.subarray(0, off);
}

function parseRecord(line: string): Record<string, unknown> | null {
  if (line.trim() === '') return null;
  try {
    const v: unknown = JSON.parse(line);
    return v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}

/**
 * Each token's text: what it adds to the decoded prefix (so ' cat' keeps its space, and a
 * character split over byte tokens shows whole on the token that completes it); a token that
 * adds no clean text (half of a character) shows its vocabulary string instead.
 * O(T^2) decoding, fine for the attention view's short prompts.
 */
function tokenTexts(m: ServeModel, text: string): { ids: number[]; texts: string[] } {
  const ids = m.tokenizer.encode(text);
  let prev = '';
  const texts = ids.map((id, i) => {
    const cur = m.tokenizer.decode(ids.slice(0, i + 1));
    const piece = cur.startsWith(prev) ? cur.slice(prev.length) : null;
    if (piece !== null && piece !== '' && !piece.includes('\uFFFD')) {
      prev = cur;
      return piece;
    }
    return m.tokenizer.idToToken(id) ?? `<${id}>`;
  });
  return { ids, texts };
}

export function playgroundRoutes(m: ServeModel, opts: AppOptions): Hono {
  const app = new Hono();
  const assets = listAssets();
  const decoder = m.model instanceof DecoderLM ? m.model : null;
  const tail = opts.metrics ? new JsonlTail(opts.metrics) : null;

  const asset = (name: string): Response => {
    const type = assets.get(name);
    if (!type)
      throw new ApiError(
        404,
        `no playground file ${JSON.stringify(name)}`,
        'invalid_request_error',
        null,
        'not_found',
      );
    const headers: Record<string, string> = {
      'content-type': type,
      'cache-control': 'no-cache',
      'x-content-type-options': 'nosniff',
    };
    if (name.endsWith('.html')) headers['content-security-policy'] = CSP;
    return new Response(readFileSync(new URL(name, ASSETS)), { headers });
  };
  app.get('/', () => asset('index.html'));
  app.get('/playground/:name', (c) => asset(c.req.param('name')));

  app.get('/api/info', (c) => {
    const cfg = decoder?.config;
    const info: PlaygroundInfo = {
      id: m.id,
      architecture: {
        arch: cfg?.arch ?? null,
        layers: cfg?.nLayers ?? null,
        heads: cfg?.nHeads ?? null,
        kv_heads: cfg?.nKvHeads ?? null,
        d_model: cfg?.dModel ?? null,
        head_dim: cfg?.headDim ?? null,
        context_length: m.model.contextLength,
        vocab_size: m.model.vocabSize,
        position: cfg?.position ?? null,
      },
      chat_template: m.chatTemplate !== undefined,
      attention: decoder !== null,
      attention_max_tokens: ATTENTION_MAX_TOKENS,
      rag: opts.ragDb !== undefined,
      metrics: opts.metrics !== undefined,
    };
    return c.json(info);
  });

  app.post('/api/attention', async (c) => {
    let body: unknown;
    try {
      body = JSON.parse(await c.req.text());
    } catch (e) {
      throw new ApiError(
        400,
        `the body is not valid JSON: ${(e as Error).message}`,
        'invalid_request_error',
        null,
        'invalid_json',
      );
    }
    const r = attentionSchema.safeParse(body);
    if (!r.success) {
      const issue = r.error.issues[0];
      const param = issue.path.length > 0 ? issue.path.map(String).join('.') : 'body';
      throw badField(param, issue.message);
    }
    const { text, layer, head } = r.data;
    if (!decoder)
      throw new ApiError(
        400,
        'attention view needs a decoder model',
        'invalid_request_error',
        null,
        'unsupported_model',
      );
    const cfg = decoder.config;
    if (layer < 0 || layer >= cfg.nLayers)
      throw badField('layer', `must be in [0, ${cfg.nLayers}), got ${layer}`);
    if (head < 0 || head >= cfg.nHeads) throw badField('head', `must be in [0, ${cfg.nHeads}), got ${head}`);
    const { ids, texts } = tokenTexts(m, text);
    if (ids.length === 0) throw badField('text', 'encodes to no tokens');
    const limit = Math.min(ATTENTION_MAX_TOKENS, cfg.contextLength);
    if (ids.length > limit)
      throw new ApiError(
        413,
        `text: ${ids.length} tokens; the attention view takes at most ${limit}`,
        'invalid_request_error',
        'text',
        'too_many_tokens',
      );
    const bad = ids.find((id) => id >= cfg.vocabSize);
    if (bad !== undefined)
      throw badField('text', `token id ${bad} is not in the model's vocabulary of ${cfg.vocabSize}`);
    const res: AttentionResponse = {
      tokens: texts,
      layer,
      head,
      weights: attentionMap(decoder, ids, layer, head),
    };
    return c.json(res);
  });

  app.get('/api/metrics', (c) => {
    if (!tail)
      throw new ApiError(
        404,
        'no metrics file: start the server with --metrics FILE.jsonl',
        'invalid_request_error',
        null,
        'no_metrics',
      );
    const raw = c.req.query('since') ?? '0';
    if (!/^\d+$/.test(raw))
      throw badField('since', `must be a line number (an integer >= 0), got ${JSON.stringify(raw)}`);
    try {
      return c.json(tail.read(Number(raw)));
    } catch (e) {
      const err = e as NodeJS.ErrnoException;
      // not written yet (a run about to start): nothing to show, and the dashboard keeps polling
      if (err.code === 'ENOENT') {
        const empty: MetricsResponse = {
          records: [],
          next: 0,
          reset: Number(raw) > 0,
          skipped: 0,
          more: false,
        };
        return c.json(empty);
      }
      throw e;
    }
  });

  return app;
}
