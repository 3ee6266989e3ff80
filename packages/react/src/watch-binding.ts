/**
 * `WatchBinding`: the bridge between a client `Watch` and React's `useSyncExternalStore`,
 * free of React so it is tested in Node.
 *
 * React may render a component and then throw the render away (StrictMode, a suspended
 * transition), and it subscribes only once a render commits. So the binding opens its watch on
 * first use and closes it when nobody has been subscribed for `idleMs`: a render that never
 * commits leaks nothing, and StrictMode's unsubscribe/resubscribe keeps the same watch (no second
 * request). This is TanStack Query's observer idea (`useBaseQuery.ts`) applied to a watch.
 */

/** What a binding wraps: a client `Watch`, or any store with the same three members. */
export interface ClosableStore<T> {
  getSnapshot(): T;
  subscribe(listener: (value: T) => void): () => void;
  close(): void;
}

/** Timer functions, injectable for tests. */
export interface BindingTimers {
  setTimeout(callback: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

/** The two functions `useSyncExternalStore` needs; both are stable for the binding's life. */
export interface ExternalStore<T> {
  getSnapshot: () => T;
  subscribe: (onStoreChange: () => void) => () => void;
}

/** Options of {@link WatchBinding}. */
export interface WatchBindingOptions {
  /**
   * How long an unsubscribed watch stays open, in ms: covers the gap between render and commit
   * and StrictMode's double effects. @defaultValue 3000
   */
  idleMs?: number;
  /** Replaces the global timers (tests). */
  timers?: BindingTimers;
}

const GLOBAL_TIMERS: BindingTimers = {
  setTimeout: (callback, ms) => setTimeout(callback, ms),
  clearTimeout: (handle) => clearTimeout(handle as ReturnType<typeof setTimeout>),
};

/** The default of {@link WatchBindingOptions.idleMs}, in ms. */
export const DEFAULT_IDLE_MS = 3000;

/** An external store over a watch that is opened lazily and closed when idle. */
export class WatchBinding<T> implements ExternalStore<T> {
  readonly #open: () => ClosableStore<T>;
  readonly #idleMs: number;
  readonly #timers: BindingTimers;
  #watch: ClosableStore<T> | null = null;
  #subscribers = 0;
  #idleTimer: unknown = null;

  /** @param open - opens the watch (e.g. `() => client.watchTask(id)`); called again after an idle close. */
  constructor(open: () => ClosableStore<T>, options: WatchBindingOptions = {}) {
    const idleMs = options.idleMs ?? DEFAULT_IDLE_MS;
    if (typeof idleMs !== 'number' || !Number.isFinite(idleMs) || idleMs < 0) {
      throw new TypeError(`\`idleMs\` must be a non-negative number of milliseconds, got ${String(idleMs)}`);
    }
    this.#open = open;
    this.#idleMs = idleMs;
    this.#timers = options.timers ?? GLOBAL_TIMERS;
  }

  /** True while a watch is open (for tests and diagnostics). */
  get open(): boolean {
    return this.#watch !== null;
  }

  /** The watch's current value (opening the watch if needed). Stable identity until it changes. */
  getSnapshot = (): T => this.#ensure().getSnapshot();

  /** Adds a listener; the returned function removes it (once, however often it is called). */
  subscribe = (onStoreChange: () => void): (() => void) => {
    const watch = this.#ensure();
    this.#subscribers++;
    this.#cancelIdle();
    const off = watch.subscribe(() => onStoreChange());
    let done = false;
    return () => {
      if (done) return;
      done = true;
      off();
      this.#subscribers--;
      if (this.#subscribers === 0) this.#scheduleIdle();
    };
  };

  /** Closes the watch now. A later `getSnapshot`/`subscribe` opens a new one. */
  close(): void {
    this.#cancelIdle();
    const watch = this.#watch;
    this.#watch = null;
    watch?.close();
  }

  #ensure(): ClosableStore<T> {
    if (this.#watch === null) {
      this.#watch = this.#open();
      // Opened by a render: if that render never commits, nobody subscribes; close it then.
      if (this.#subscribers === 0) this.#scheduleIdle();
    }
    return this.#watch;
  }

  #scheduleIdle(): void {
    this.#cancelIdle();
    this.#idleTimer = this.#timers.setTimeout(() => {
      this.#idleTimer = null;
      if (this.#subscribers === 0) this.close();
    }, this.#idleMs);
  }

  #cancelIdle(): void {
    if (this.#idleTimer === null) return;
    this.#timers.clearTimeout(this.#idleTimer);
    this.#idleTimer = null;
  }
}

/** A store that never changes, for a hook called without a key (`useTask(null)`). */
export function constantStore<T>(value: T): ExternalStore<T> {
  return { getSnapshot: () => value, subscribe: () => () => {} };
}
