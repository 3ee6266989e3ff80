/**
 * Waiting for the log to move: resolves a wait once an event after a given `seq` has been
 * dispatched, or at its timeout. Long polls (`GET /v1/events?waitMs=`) and long-poll claims wait
 * here. Built before the task service and the stream hub: the hub advances it as it dispatches
 * events in order (its own and, over the bus, other instances'), so a wait ends exactly when the
 * hub has the event.
 */
export class HeadWaiter {
  #head = 0;
  #closed = false;
  readonly #waiters = new Set<() => void>();

  /** The highest `seq` dispatched so far. */
  get head(): number {
    return this.#head;
  }

  /** The log reached `seq`: wakes the waits it satisfies. */
  advance(seq: number): void {
    if (seq <= this.#head) return;
    this.#head = seq;
    if (this.#waiters.size > 0) for (const w of [...this.#waiters]) w();
  }

  /**
   * Resolves when an event after `after` has been dispatched, after `timeoutMs` of wall time (a
   * long poll's wait is its request's: a real timer, not an injected clock), on abort, or on close.
   */
  wait(after: number, timeoutMs: number, signal?: AbortSignal): Promise<void> {
    if (this.#head > after || timeoutMs <= 0 || this.#closed) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(t);
        this.#waiters.delete(wake);
        signal?.removeEventListener('abort', done);
        resolve();
      };
      const wake = () => {
        if (this.#head > after || this.#closed) done();
      };
      const t = setTimeout(done, timeoutMs);
      this.#waiters.add(wake);
      signal?.addEventListener('abort', done);
    });
  }

  /** Shutting down: every wait resolves now, and later ones at once. Idempotent. */
  close(): void {
    this.#closed = true;
    for (const w of [...this.#waiters]) w();
  }
}
