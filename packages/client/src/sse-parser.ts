/**
 * An incremental Server-Sent Events parser (WHATWG HTML, "9.2.6 Interpreting an event stream").
 * Pure: feed it decoded text in chunks of any size, it calls back once per dispatched message.
 * We parse ourselves because fetch streaming lets the token travel in a header and lets us own
 * reconnects; EventSource would do neither.
 */

/** One dispatched SSE message. */
export interface SseMessage {
  /** The `event:` field, or `"message"` when none was given. */
  event: string;
  /** The `data:` lines joined with `\n`. */
  data: string;
  /** The last event id seen on this stream (SSE spec: it persists across messages). */
  id: string | undefined;
}

/** Callbacks of {@link SseParser}. */
export interface SseHandlers {
  onMessage(message: SseMessage): void;
  /** A `retry:` field: the server's reconnection delay in milliseconds. */
  onRetry?(ms: number): void;
}

export class SseParser {
  #handlers: SseHandlers;
  #line = '';
  #data: string[] = [];
  #event = '';
  #id: string | undefined;
  #afterCR = false;
  #started = false;

  constructor(handlers: SseHandlers) {
    this.#handlers = handlers;
  }

  /** Feeds decoded text; complete lines are interpreted at once, a partial line is kept. */
  feed(chunk: string): void {
    let text = chunk;
    if (!this.#started && text.length > 0) {
      this.#started = true;
      // SSE spec: one leading U+FEFF BOM is ignored.
      if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
    }
    let start = 0;
    for (let i = 0; i < text.length; i++) {
      const c = text.charCodeAt(i);
      if (c === 10 /* \n */) {
        if (this.#afterCR && i === start && this.#line === '') {
          // The \n of a \r\n pair split across two chunks: the line already ended.
          this.#afterCR = false;
          start = i + 1;
          continue;
        }
        this.#afterCR = false;
        this.#endLine(this.#line + text.slice(start, i));
        start = i + 1;
      } else if (c === 13 /* \r */) {
        this.#endLine(this.#line + text.slice(start, i));
        if (text.charCodeAt(i + 1) === 10) i++;
        else this.#afterCR = i + 1 === text.length;
        start = i + 1;
      } else {
        this.#afterCR = false;
      }
    }
    this.#line += text.slice(start);
  }

  #endLine(line: string): void {
    this.#line = '';
    if (line === '') return this.#dispatch();
    if (line.charCodeAt(0) === 58 /* : comment */) return;
    const colon = line.indexOf(':');
    const field = colon === -1 ? line : line.slice(0, colon);
    let value = colon === -1 ? '' : line.slice(colon + 1);
    if (value.charCodeAt(0) === 32) value = value.slice(1);
    switch (field) {
      case 'data':
        this.#data.push(value);
        break;
      case 'event':
        this.#event = value;
        break;
      case 'id':
        // SSE spec: an id containing NUL is ignored.
        if (!value.includes('\u0000')) this.#id = value;
        break;
      case 'retry':
        if (/^\d+$/.test(value)) this.#handlers.onRetry?.(Number(value));
        break;
      default:
      // SSE spec: unknown fields are ignored.
    }
  }

  #dispatch(): void {
    const event = this.#event || 'message';
    const hasData = this.#data.length > 0;
    const data = this.#data.join('\n');
    this.#data = [];
    this.#event = '';
    // SSE spec: with an empty data buffer nothing is dispatched.
    if (hasData) this.#handlers.onMessage({ event, data, id: this.#id });
  }
}
