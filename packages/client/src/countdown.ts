/**
 * A remaining time that ticks down between events. The server computes `eta` on its own clock
 * when it sends a task; this counts `remainingMs` (and the band) down by the time elapsed since
 * that task was handed in, measured with a monotonic clock — never by comparing `eta.at` with
 * the local wall clock, which may be minutes off (docs/client.md, "Remaining time").
 */
import type { Eta, Task } from '@taskpulse/protocol';
import { defaultTimers, type Timers } from './environment.ts';
import { listeners } from './listeners.ts';

/** The ETA as of now. All ms, never below 0. */
export interface RemainingTime {
  remainingMs: number;
  lowMs: number | null;
  highMs: number | null;
  basis: Eta['basis'];
}

/** Options of {@link createCountdown}. */
export interface CountdownOptions {
  /** How often the remaining time changes while someone listens, in ms. @defaultValue 1000 */
  tickMs?: number;
  /** A monotonic clock in ms. @defaultValue `performance.now` */
  now?: () => number;
  /** Replaces the global timers (tests). */
  timers?: Timers;
}

/** A ticking remaining time for one task; `getSnapshot()` is stable between ticks. */
export interface Countdown {
  /** Hands in the task as now known (a new ETA restarts the count from it). */
  update(task: Task | null | undefined): void;
  /** The remaining time now, or null when the task has no ETA (not running, or none worth showing). */
  getSnapshot(): RemainingTime | null;
  /** Calls `listener` at every tick and update; returns the unsubscribe function. */
  subscribe(listener: () => void): () => void;
  close(): void;
}

/**
 * A remaining time that needs no event to move.
 * @example
 * ```ts
 * const countdown = createCountdown();
 * client.watchTask(id).subscribe((v) => countdown.update(v.task));
 * countdown.subscribe(() => render(countdown.getSnapshot()?.remainingMs));
 * ```
 */
export function createCountdown(options: CountdownOptions = {}): Countdown {
  const tickMs = options.tickMs ?? 1000;
  if (!Number.isFinite(tickMs) || tickMs <= 0) throw new RangeError(`tickMs must be a positive number, got ${tickMs}`);
  const now = options.now ?? (() => performance.now());
  const timers = options.timers ?? defaultTimers;
  const subscribers = listeners();
  let eta: Eta | null = null;
  let receivedAt = 0;
  let snapshot: RemainingTime | null = null;
  let timer: unknown = null;
  let closed = false;

  const compute = (): RemainingTime | null => {
    if (!eta || eta.remainingMs === null) return null;
    const gone = Math.max(0, now() - receivedAt);
    const down = (ms: number | null) => (ms === null ? null : Math.max(0, Math.round(ms - gone)));
    return { remainingMs: down(eta.remainingMs)!, lowMs: down(eta.lowMs), highMs: down(eta.highMs), basis: eta.basis };
  };
  const emit = () => {
    const next = compute();
    if (same(next, snapshot, ['remainingMs', 'lowMs', 'highMs', 'basis'])) return;
    snapshot = next;
    subscribers.emit();
  };
  const schedule = () => {
    if (timer !== null || closed || subscribers.size === 0 || !snapshot || snapshot.remainingMs === 0) return;
    timer = timers.setTimeout(() => {
      timer = null;
      emit();
      schedule();
    }, tickMs);
  };
  const stop = () => {
    if (timer !== null) timers.clearTimeout(timer);
    timer = null;
  };

  return {
    update(task) {
      const next = task && task.status === 'running' ? task.eta : null;
      // The same ETA (a re-render, an event that changed something else) keeps its count.
      if (same(next, eta, ['at', 'remainingMs', 'lowMs', 'highMs'])) return;
      eta = next;
      receivedAt = now();
      stop();
      emit();
      schedule();
    },
    getSnapshot: () => snapshot,
    subscribe(listener) {
      const off = subscribers.add(listener);
      schedule();
      return () => {
        off();
        if (subscribers.size === 0) stop();
      };
    },
    close() {
      closed = true;
      stop();
      subscribers.clear();
    },
  };
}

/** Both absent, the same object, or equal in every one of `keys`. */
function same<T extends object>(a: T | null | undefined, b: T | null | undefined, keys: Array<keyof T>): boolean {
  return a === b || (!!a && !!b && keys.every((k) => a[k] === b[k]));
}
