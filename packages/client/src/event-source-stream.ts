/** Fallback for hosts where `fetch` cannot stream a body: EventSource with `?access_token=`. */
import { STREAM_FRAME_TYPES } from '@taskpulse/protocol/frames';
import type { Environment, EventSourceLike } from './environment.ts';
import { type Http, queryString } from './http.ts';
import { Generation, type StreamListener, type StreamQuery, type StreamTransport } from './stream-transport.ts';

export class EventSourceStream implements StreamTransport {
  readonly kind = 'eventsource';
  #http: Http;
  #env: Environment;
  #url: string;
  #gen = new Generation();
  #source: EventSourceLike | null = null;

  constructor(url: string, http: Http, env: Environment) {
    this.#url = url;
    this.#http = http;
    this.#env = env;
  }

  open(query: StreamQuery, listener: StreamListener): void {
    this.close();
    const gen = this.#gen.next();
    void this.#open(gen, query, listener);
  }

  close(): void {
    this.#gen.next();
    this.#source?.close();
    this.#source = null;
  }

  async #open(gen: number, query: StreamQuery, listener: StreamListener): Promise<void> {
    const current = () => this.#gen.current(gen);
    const ES = this.#env.EventSource;
    if (ES === undefined) return listener.failed('stream_http_error');
    let token: string;
    try {
      token = await this.#http.token();
    } catch {
      if (current()) listener.unauthorized();
      return;
    }
    if (!current()) return;
    const source = new ES(`${this.#url}/v1/stream${queryString({ ...query, access_token: token })}`);
    this.#source = source;
    source.onopen = () => current() && listener.bytes();
    // We own reconnects (from our cursor, with our backoff): the browser's are switched off by closing.
    source.onerror = () => current() && listener.failed('stream_error');
    for (const type of STREAM_FRAME_TYPES) {
      source.addEventListener(type, (e) => current() && listener.message({ event: type, data: String(e.data ?? ''), id: e.lastEventId }));
    }
  }
}
