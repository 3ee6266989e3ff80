/** `useRemainingTime(task)`: the task's ETA, ticking down between events. */
import type { Task } from '@taskpulse/client';
import { createCountdown, type CountdownOptions, type RemainingTime } from '@taskpulse/client/countdown';
import { useEffect, useState, useSyncExternalStore } from 'react';

/**
 * The remaining time of a running task as of now: the server's `eta` counted down every
 * `tickMs` (default 1 s) with no event needed, restarting from each new ETA the server sends.
 * Null when the task has no ETA (not running, or the server has none worth showing — see
 * docs/server.md, "How the ETA works"). Counts with a monotonic clock, never the local wall clock.
 *
 * @example
 * ```tsx
 * function Eta({ id }: { id: string }) {
 *   const { task } = useTask(id);
 *   const left = useRemainingTime(task);
 *   return left ? <span>about {Math.ceil(left.remainingMs / 1000)} s left</span> : null;
 * }
 * ```
 */
export function useRemainingTime(task: Task | null | undefined, options: Pick<CountdownOptions, 'tickMs'> = {}): RemainingTime | null {
  const [countdown] = useState(() => {
    const c = createCountdown(options);
    c.update(task); // the first paint already shows it
    return c;
  });
  // No close on unmount: with no subscriber the countdown holds no timer, and StrictMode's
  // second mount reuses it.
  useEffect(() => countdown.update(task), [countdown, task]);
  return useSyncExternalStore(countdown.subscribe, countdown.getSnapshot, countdown.getSnapshot);
}
