/**
 * How the stream (`GET /v1/stream`) is read: `fetch` streaming (the token in a header) or, where
 * `fetch` cannot stream a body, EventSource (the token in `?access_token=`). Each transport owns
 * a generation counter: opening a stream closes the previous one, and nothing a closed stream
 * does afterwards — a late answer, a buffered frame, an error — reaches its listener
 * (SPEC.md, invariant 18).
 */
import type { SseMessage } from './sse-parser.ts';

/** Why a stream stopped. */
export type StreamFailure = 'stream_error' | 'stream_ended' | 'stream_http_error';

/** The query of `GET /v1/stream`. */
export type StreamQuery = Record<string, string | number | undefined>;

/** What a stream tells its reader; never called for a stream that is no longer current. */
export interface StreamListener {
  /** Bytes arrived: the first ones make the stream live (headers alone prove nothing). */
  bytes(): void;
  /** The server's `retry:` suggestion, in ms (also bytes). */
  retry(ms: number): void;
  /** A message (also bytes). */
  message(message: SseMessage): void;
  failed(reason: StreamFailure, error?: unknown): void;
  /** The credentials were refused and could not be refreshed. */
  unauthorized(): void;
  /** This host cannot stream a `fetch` body: use the EventSource transport. */
  unsupported(): void;
}

export interface StreamTransport {
  readonly kind: 'fetch' | 'eventsource';
  /** Opens a stream from `query`; the stream opened before it, if any, is closed and silenced. */
  open(query: StreamQuery, listener: StreamListener): void;
  /** Closes the current stream; nothing it does later reaches its listener. */
  close(): void;
}

/** A generation counter: a stream opened under an older generation is stale. */
export class Generation {
  #value = 0;

  /** Starts a new generation (every older stream becomes stale) and returns it. */
  next(): number {
    return ++this.#value;
  }

  /** The stale-stream guard: true while `gen` is the current generation. */
  current(gen: number): boolean {
    return gen === this.#value;
  }
}
