import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { DEFAULT_IDLE_MS, WatchBinding } from '../src/watch-binding.ts';
import { FakeWatch } from './support.ts';

describe('WatchBinding (the store behind useTask/useTasks)', () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  function setup() {
    const watches: FakeWatch<number>[] = [];
    const binding = new WatchBinding(() => {
      const w = new FakeWatch(watches.length);
      watches.push(w);
      return w;
    });
    return { binding, watches };
  }

  it('opens nothing until read, then one watch for reads and subscribers alike', () => {
    const { binding, watches } = setup();
    expect(watches).toHaveLength(0);
    expect(binding.getSnapshot()).toBe(0);
    binding.subscribe(() => {});
    expect(binding.getSnapshot()).toBe(0);
    expect(watches).toHaveLength(1);
  });

  it('a render that never commits (read, never subscribed) closes its watch after idleMs', async () => {
    const { binding, watches } = setup();
    binding.getSnapshot();
    await vi.advanceTimersByTimeAsync(DEFAULT_IDLE_MS - 1);
    expect(watches[0]!.closed).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    expect(watches[0]!.closed).toBe(true);
    expect(binding.open).toBe(false);
  });

  it('StrictMode unsubscribe/resubscribe keeps the same watch; the last unsubscribe closes it when idle', async () => {
    const { binding, watches } = setup();
    binding.getSnapshot();
    const off1 = binding.subscribe(() => {});
    off1();
    const off2 = binding.subscribe(() => {});
    await vi.advanceTimersByTimeAsync(DEFAULT_IDLE_MS * 2);
    expect(watches).toHaveLength(1);
    expect(watches[0]!.closed).toBe(false);
    off2();
    off2(); // twice is harmless
    await vi.advanceTimersByTimeAsync(DEFAULT_IDLE_MS);
    expect(watches[0]!.closed).toBe(true);
  });

  it('tells subscribers about changes, and opens a new watch when used again after closing', async () => {
    const { binding, watches } = setup();
    const seen: number[] = [];
    const off = binding.subscribe(() => seen.push(binding.getSnapshot()));
    watches[0]!.set(41);
    watches[0]!.set(42);
    expect(seen).toEqual([41, 42]);
    off();
    await vi.advanceTimersByTimeAsync(DEFAULT_IDLE_MS);
    expect(binding.getSnapshot()).toBe(1);
    expect(watches).toHaveLength(2);
  });

  it('close() closes at once', () => {
    const { binding, watches } = setup();
    binding.subscribe(() => {});
    binding.close();
    binding.close();
    expect(watches[0]!.closed).toBe(true);
  });

  it('refuses a bad idleMs, naming it', () => {
    expect(() => new WatchBinding(() => new FakeWatch(0), { idleMs: -1 })).toThrow(/`idleMs` must be a non-negative number of milliseconds, got -1/);
  });
});
