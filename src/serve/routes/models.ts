/**
 * GET /v1/models and GET /v1/models/:id: the language model and the embedder, each by the id
 * clients name in `model`. An unknown id answers 404 in OpenAI's error format.
 */
import type { Hono } from 'hono';
import { unknownModel } from '../errors.ts';

export function registerModels(app: Hono, ids: readonly string[]): void {
  const created = Math.floor(Date.now() / 1000);
  const models = ids.map((id) => ({ id, object: 'model', created, owned_by: 'xfmr' }));
  app.get('/v1/models', (c) => c.json({ object: 'list', data: models }));
  app.get('/v1/models/:id', (c) => {
    const found = models.find((x) => x.id === c.req.param('id'));
    if (!found) throw unknownModel(c.req.param('id'));
    return c.json(found);
  });
}
