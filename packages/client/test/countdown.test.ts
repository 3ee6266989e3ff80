/** The ticking remaining time, on fake timers: it moves with no event and restarts on a new ETA. */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { Task } from '@taskpulse/protocol';
import { createCountdown } from '../src/countdown.ts';

const running = (remainingMs: number | null, at = 'x'): Task =>
  ({
    status: 'running',
    eta: remainingMs === null
      ? { remainingMs: null, lowMs: null, highMs: null, at: null, basis: 'none' }
      : { remainingMs, lowMs: remainingMs / 2, highMs: remainingMs * 2, at, basis: 'blend' },
  }) as Task;

beforeEach(() => vi.useFakeTimers());
afterEach(() => vi.useRealTimers());

describe('createCountdown', () => {
  const make = (tickMs = 1000) => createCountdown({ tickMs, now: () => Date.now(), timers: { setTimeout, clearTimeout: (h) => clearTimeout(h as never) } });

  it('ticks down every second with no event, band included, and stops at zero', async () => {
    const c = make();
    c.update(running(3000));
    const seen: (number | undefined)[] = [];
    c.subscribe(() => seen.push(c.getSnapshot()?.remainingMs));
    expect(c.getSnapshot()).toEqual({ remainingMs: 3000, lowMs: 1500, highMs: 6000, basis: 'blend' });
    await vi.advanceTimersByTimeAsync(1000);
    expect(c.getSnapshot()).toEqual({ remainingMs: 2000, lowMs: 500, highMs: 5000, basis: 'blend' });
    await vi.advanceTimersByTimeAsync(5000);
    expect(seen).toEqual([2000, 1000, 0]);
    expect(c.getSnapshot()!.lowMs).toBe(0);
    expect(vi.getTimerCount()).toBe(0); // nothing left to count
  });

  it('a new ETA restarts the count; the same ETA handed in again does not', async () => {
    const c = make();
    const t = running(10_000, 'a');
    c.update(t);
    c.subscribe(() => {});
    await vi.advanceTimersByTimeAsync(3000);
    c.update({ ...t }); // a re-render or an event that changed something else
    expect(c.getSnapshot()!.remainingMs).toBe(7000);
    c.update(running(20_000, 'b'));
    expect(c.getSnapshot()!.remainingMs).toBe(20_000);
    await vi.advanceTimersByTimeAsync(1000);
    expect(c.getSnapshot()!.remainingMs).toBe(19_000);
  });

  it('null for no ETA, a finished task or no task; no timer without listeners', async () => {
    const c = make();
    c.update(running(null));
    expect(c.getSnapshot()).toBeNull();
    c.update({ ...running(5000), status: 'completed' } as Task);
    expect(c.getSnapshot()).toBeNull();
    c.update(running(5000));
    expect(vi.getTimerCount()).toBe(0);
    const off = c.subscribe(() => {});
    expect(vi.getTimerCount()).toBe(1);
    off();
    expect(vi.getTimerCount()).toBe(0);
    c.update(undefined);
    expect(c.getSnapshot()).toBeNull();
  });

  it('counts with the monotonic clock it is given, not the wall clock', async () => {
    let mono = 0;
    const c = createCountdown({ now: () => mono, timers: { setTimeout, clearTimeout: (h) => clearTimeout(h as never) } });
    c.update(running(60_000));
    c.subscribe(() => {});
    vi.setSystemTime(Date.now() + 3_600_000); // the wall clock jumps an hour: nothing happens
    mono += 1000;
    await vi.advanceTimersByTimeAsync(1000);
    expect(c.getSnapshot()!.remainingMs).toBe(59_000);
  });

  it('rejects a tickMs that is not a positive number', () => {
    expect(() => createCountdown({ tickMs: 0 })).toThrow(/tickMs must be a positive number, got 0/);
  });
});
