/**
 * POST /v1/embeddings (OpenAI-compatible) with the RAG embedder: the one a `--db` index was built
 * with, else the default HashEmbedder. `model` is the embedder's id (listed by GET /v1/models).
 *
 *   input            a string or up to 2048 strings (token-id arrays are refused: 400)
 *   encoding_format  'float' (number arrays) or 'base64' (little-endian float32 bytes; the openai
 *                    node client asks for it by default and decodes it)
 *   dimensions       accepted only when equal to the embedder's dimension (no truncation)
 *   input_type       extension: 'query' (default) or 'passage', for embedders that embed them
 *                    differently (E5 and BGE prefixes; the hash embedder's passages carry a length
 *                    normalisation term in v[0], so two passages' cosine is not their similarity).
 *                    'query' vectors are the symmetric kind a client compares with each other.
 * Vectors are L2-normalised. usage.prompt_tokens counts the embedder's own tokens.
 */
import type { Hono } from 'hono';
import { z } from 'zod';
import type { Embedder } from '../../rag/embedder.ts';
import { bad, parse, readJson, unknownModel } from '../errors.ts';

const MAX_INPUTS = 2048;

const embeddingSchema = z.object({
  model: z.string(),
  input: z.union([
    z.string(),
    z.array(z.string()).min(1).max(MAX_INPUTS),
    z.array(z.number()).min(1),
    z.array(z.array(z.number())).min(1),
  ]),
  encoding_format: z.enum(['float', 'base64']).nullish(),
  dimensions: z.number().int().min(1).nullish(),
  input_type: z.enum(['query', 'passage']).nullish(),
  user: z.string().nullish(),
});

/** float32 little-endian bytes of v, base64 (what OpenAI sends for encoding_format 'base64'). */
export function float32Base64(v: Float32Array): string {
  const bytes = new Uint8Array(v.length * 4);
  const view = new DataView(bytes.buffer);
  for (let i = 0; i < v.length; i++) view.setFloat32(i * 4, v[i], true);
  return Buffer.from(bytes).toString('base64');
}

export function registerEmbeddings(app: Hono, embedder: Embedder): void {
  app.post('/v1/embeddings', async (c) => {
    const r = parse(embeddingSchema, await readJson(c.req.raw));
    if (r.model !== embedder.id) throw unknownModel(r.model);
    const input = r.input;
    if (typeof input !== 'string' && input.some((x) => typeof x !== 'string'))
      throw bad('input: token id arrays are not supported: send the text', 'input', 'unsupported_value');
    const texts = typeof input === 'string' ? [input] : (input as string[]);
    const empty = texts.indexOf('');
    if (empty >= 0) throw bad(`input[${empty}]: the text is empty`, 'input');
    if (r.dimensions != null && r.dimensions !== embedder.dim)
      throw bad(
        `dimensions: this embedder makes ${embedder.dim}-dimensional vectors, not ${r.dimensions}`,
        'dimensions',
        'unsupported_value',
      );
    const vectors = await embedder.embed(texts, r.input_type ?? 'query'); // [n][dim]
    const tokens = texts.reduce((n, t) => n + embedder.countTokens(t), 0);
    const base64 = r.encoding_format === 'base64';
    return c.json({
      object: 'list',
      data: vectors.map((v, index) => ({
        object: 'embedding',
        index,
        embedding: base64 ? float32Base64(v) : Array.from(v),
      })),
      model: embedder.id,
      usage: { prompt_tokens: tokens, total_tokens: tokens },
    });
  });
}
