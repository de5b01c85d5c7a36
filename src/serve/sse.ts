/**
 * Server-sent events in OpenAI's framing: `data: JSON\n\n` per event, `data: [DONE]\n\n` last.
 * An error thrown while producing goes out as one `data: {"error": ...}` event (the openai client
 * raises it as an APIError), then [DONE]. A client that disconnects (or cancels the body) aborts
 * the signal given to `produce`.
 */
import { toApiError } from './errors.ts';

export type Send = (event: unknown) => void;

export function sse(
  reqSignal: AbortSignal,
  produce: (send: Send, signal: AbortSignal) => Promise<void>,
): Response {
  const abort = new AbortController();
  const onAbort = (): void => abort.abort();
  if (reqSignal.aborted) abort.abort();
  else reqSignal.addEventListener('abort', onAbort, { once: true });
  const enc = new TextEncoder();
  const stream = new ReadableStream<Uint8Array>({
    async start(controller) {
      const send: Send = (obj) => {
        if (abort.signal.aborted) return;
        try {
          controller.enqueue(enc.encode(`data: ${typeof obj === 'string' ? obj : JSON.stringify(obj)}\n\n`));
        } catch {
          abort.abort(); // the stream was closed under us
        }
      };
      try {
        await produce(send, abort.signal);
      } catch (e) {
        send(toApiError(e).body());
      } finally {
        send('[DONE]');
        reqSignal.removeEventListener('abort', onAbort);
        try {
          controller.close();
        } catch {
          // already closed by a cancel
        }
      }
    },
    cancel() {
      abort.abort();
    },
  });
  return new Response(stream, {
    headers: { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive' },
  });
}
