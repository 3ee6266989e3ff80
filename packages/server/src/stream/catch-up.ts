/**
 * Catch-up shares the event loop: a storm of readers resuming thousands of events behind must not
 * freeze writes and /healthz (issue 8, item 7). Two parts:
 *
 * - `Pacer`: catch-up work (a page read and its writes) runs in slices of at most `sliceMs` of one
 *   turn of the event loop; past that, every catching-up reader waits for the next turn
 *   (`setImmediate`), so I/O (requests, writes, health checks) runs between slices. It measures
 *   CPU time spent in this turn, so it reads the real clock (`performance.now`), never an injected one.
 * - `PageCache`: readers resuming from the same cursor with the same filter (a restart makes many
 *   of them) share one read of each page. Only full pages are kept: the events of a full page
 *   are final, while a short page ends at the head, which moves on.
 */
import type { EventFilter } from '../store/store.ts';
import type { EventPage } from './event-reader.ts';

export class Pacer {
  readonly #sliceMs: number;
  #sliceStart = -Infinity;
  #next: Promise<void> | null = null;

  constructor(sliceMs: number) {
    this.#sliceMs = sliceMs;
  }

  /**
   * True while the current slice has time left: the caller may do one more bounded piece of work
   * now, synchronously. (A check and the work it allows must not be separated by an await, or
   * every waiting reader would pass the check before any of them had worked.)
   */
  get open(): boolean {
    return performance.now() - this.#sliceStart < this.#sliceMs;
  }

  /** Resolves on a later turn of the event loop, when the next slice starts. Use: `while (!p.open) await p.next();` */
  next(): Promise<void> {
    this.#next ??= new Promise<void>((resolve) =>
      setImmediate(() => {
        this.#next = null;
        this.#sliceStart = performance.now();
        resolve();
      }),
    );
    return this.#next;
  }
}

export class PageCache {
  readonly #max: number;
  readonly #ttlMs: number;
  readonly #pages = new Map<string, { at: number; page: Promise<EventPage> }>();
  readonly #now: () => number;

  constructor(max: number, ttlMs: number, now: () => number = Date.now) {
    this.#max = max;
    this.#ttlMs = ttlMs;
    this.#now = now;
  }

  read(after: number, filter: EventFilter, limit: number, load: () => Promise<EventPage>): Promise<EventPage> {
    const now = this.#now();
    for (const [k, v] of this.#pages) {
      if (now - v.at < this.#ttlMs) break; // oldest first
      this.#pages.delete(k);
    }
    const key = `${limit}:${after}:${filterKey(filter)}`;
    const hit = this.#pages.get(key);
    if (hit) return hit.page;
    const page = load();
    this.#pages.set(key, { at: now, page });
    if (this.#pages.size > this.#max) this.#pages.delete(this.#pages.keys().next().value!);
    page.then(
      (p) => {
        if (!p.full) this.#drop(key, page);
      },
      () => this.#drop(key, page),
    );
    return page;
  }

  get size(): number {
    return this.#pages.size;
  }

  #drop(key: string, page: Promise<EventPage>): void {
    if (this.#pages.get(key)?.page === page) this.#pages.delete(key);
  }
}

function filterKey(f: EventFilter): string {
  return JSON.stringify(Object.keys(f).sort().map((k) => [k, f[k as keyof EventFilter]]));
}
