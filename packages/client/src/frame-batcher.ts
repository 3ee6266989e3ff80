/**
 * Coalesces change notifications: however many events touch a key between two frames, its
 * listeners hear about it once, on the next animation frame (or the scheduler given).
 */

/** Runs a callback soon: `requestAnimationFrame` in a browser, a microtask elsewhere. */
export type FrameScheduler = (callback: () => void) => void;

export class FrameBatcher<K> {
  #dirty = new Set<K>();
  #scheduled = false;
  #schedule: FrameScheduler;
  #flush: (keys: ReadonlySet<K>) => void;

  constructor(schedule: FrameScheduler, flush: (keys: ReadonlySet<K>) => void) {
    this.#schedule = schedule;
    this.#flush = flush;
  }

  /** Marks `key` changed; its listeners run once on the next frame. */
  mark(key: K): void {
    this.#dirty.add(key);
    if (this.#scheduled) return;
    this.#scheduled = true;
    this.#schedule(() => {
      this.#scheduled = false;
      const keys = this.#dirty;
      this.#dirty = new Set();
      this.#flush(keys);
    });
  }
}
