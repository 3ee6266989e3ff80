/** The stream read with `fetch` and parsed here (WHATWG SSE), so the token travels in a header. */
import type { Environment } from './environment.ts';
import { type Http, toError } from './http.ts';
import { SseParser } from './sse-parser.ts';
import { Generation, type StreamListener, type StreamQuery, type StreamTransport } from './stream-transport.ts';
import { isUnauthorized } from './errors.ts';

export class FetchStream implements StreamTransport {
  readonly kind = 'fetch';
  #http: Http;
  #env: Environment;
  #gen = new Generation();
  #abort: AbortController | null = null;

  constructor(http: Http, env: Environment) {
    this.#http = http;
    this.#env = env;
  }

  open(query: StreamQuery, listener: StreamListener): void {
    this.close();
    const gen = this.#gen.next();
    const controller = new AbortController();
    this.#abort = controller;
    void this.#read(gen, controller.signal, query, listener);
  }

  close(): void {
    this.#gen.next();
    this.#abort?.abort();
    this.#abort = null;
  }

  async #read(gen: number, signal: AbortSignal, query: StreamQuery, listener: StreamListener): Promise<void> {
    const current = () => this.#gen.current(gen);
    try {
      const response = await this.#http.send('GET', '/v1/stream', { query, signal, noTimeout: true, headers: { accept: 'text/event-stream' } });
      // A late answer to a stream we have since replaced (a fetch that ignored the abort, a slow proxy).
      if (!current()) return void response.body?.cancel().catch(() => {});
      if (!response.ok) {
        const error = await toError(response, this.#env.now());
        if (current()) listener.failed('stream_http_error', error);
        return;
      }
      const body = response.body;
      if (body === null || typeof body.getReader !== 'function') return listener.unsupported();
      // Not live yet: headers alone prove nothing (a buffering proxy passes them and holds the
      // body). The first bytes parsed — the server's `retry:` line, sent at once — do.
      const reader = body.getReader();
      const decoder = new TextDecoder();
      const parser = new SseParser({
        onMessage: (m) => current() && listener.message(m),
        onRetry: (ms) => current() && listener.retry(ms),
      });
      for (;;) {
        const { done, value } = await reader.read();
        if (!current()) return void reader.cancel().catch(() => {});
        if (done) break;
        parser.feed(decoder.decode(value, { stream: true }));
      }
      listener.failed('stream_ended');
    } catch (error) {
      if (!current()) return;
      if (isUnauthorized(error)) listener.unauthorized();
      else listener.failed('stream_error', error);
    }
  }
}
