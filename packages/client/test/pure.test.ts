import { describe, expect, it } from 'vitest';
import { Cursor } from '../src/cursor.ts';
import { DeliveryHealth } from '../src/delivery-health.ts';
import { FrameBatcher } from '../src/frame-batcher.ts';
import { HeartbeatInterval } from '../src/heartbeat-interval.ts';
import { pollIntervalMs, type PollInput } from '../src/poll-policy.ts';
import { compareNewestFirst, filterToQuery, matchesFilter } from '../src/task-filter.ts';
import { queryString } from '../src/http.ts';
import { TaskStore } from '../src/task-store.ts';
import { DEFAULTS } from '../src/options.ts';
import { makeTask } from './support/fake-server.ts';

describe('cursor', () => {
  it('accepts each seq once, in increasing order only', () => {
    const c = new Cursor(10);
    expect([9, 10, 11, 11, 13, 12].map((s) => c.accept(s))).toEqual([false, false, true, false, true, false]);
    expect(c.value).toBe(13);
  });
  it('advances to a head but never moves back, except on reset', () => {
    const c = new Cursor(5);
    c.advanceTo(3);
    expect(c.value).toBe(5);
    c.advanceTo(8);
    expect(c.value).toBe(8);
    c.resetTo(2);
    expect(c.value).toBe(2);
  });
});

describe('task store', () => {
  it('never replaces a task with an older or equal seq (a view never goes backwards)', () => {
    const s = new TaskStore();
    expect(s.upsert(makeTask('a', { seq: 5, progress: { done: 50, total: 100, percent: 50 } }))).toBe(true);
    expect(s.upsert(makeTask('a', { seq: 4, progress: { done: 40, total: 100, percent: 40 } }))).toBe(false);
    expect(s.upsert(makeTask('a', { seq: 5 }))).toBe(false);
    expect(s.get('a')!.progress.percent).toBe(50);
    expect(s.upsert(makeTask('a', { seq: 6, status: 'completed' }))).toBe(true);
    expect(s.activeCount()).toBe(0);
  });
});

describe('poll policy', () => {
  const base: PollInput = { state: 'live', hidden: false, activeTasks: 1, msSinceFresh: 0, failures: 0 };
  const cfg = DEFAULTS;
  it('live and fresh → the ~30 s safety check', () => {
    expect(pollIntervalMs(base, cfg)).toBe(30_000);
    expect(pollIntervalMs({ ...base, activeTasks: 0, msSinceFresh: 60_000 }, cfg)).toBe(30_000);
  });
  it('live but quiet while tasks run → 10–15 s', () => {
    const ms = pollIntervalMs({ ...base, msSinceFresh: 20_000 }, cfg)!;
    expect(ms).toBeGreaterThanOrEqual(10_000);
    expect(ms).toBeLessThanOrEqual(15_000);
  });
  it('degraded → 1–5 s, slower with failures, capped', () => {
    expect(pollIntervalMs({ ...base, state: 'polling' }, cfg)).toBe(1000);
    expect(pollIntervalMs({ ...base, state: 'polling', activeTasks: 0 }, cfg)).toBe(5000);
    expect(pollIntervalMs({ ...base, state: 'polling', failures: 2 }, cfg)).toBe(4000);
    expect(pollIntervalMs({ ...base, state: 'polling', failures: 50 }, cfg)).toBe(5000);
  });
  it('hidden → slower; offline and closed → paused', () => {
    expect(pollIntervalMs({ ...base, state: 'polling', hidden: true }, cfg)).toBe(4000);
    expect(pollIntervalMs({ ...base, hidden: true }, cfg)).toBe(120_000);
    expect(pollIntervalMs({ ...base, state: 'offline' }, cfg)).toBeNull();
    expect(pollIntervalMs({ ...base, state: 'closed' }, cfg)).toBeNull();
  });
});

describe('delivery health', () => {
  it('accounts time per state and the worst staleness, whatever the clock skew', () => {
    const h = new DeliveryHealth('connecting', 0);
    h.state('live', 100);
    h.delivered(1_000_000 - 5000, 1_000_000 + 0); // skewed clocks: lag 5000 taken as the baseline
    h.state('polling', 10_100);
    h.delivered(1_000_010, 1_000_010 + 5000 + 3000); // 3 s later than the fastest delivery
    h.reconnected();
    h.state('offline', 15_100);
    const w = h.takeWindow(16_100);
    expect(w).toEqual({ liveMs: 10_000, pollingMs: 5000, offlineMs: 1000, worstStalenessMs: 3000, reconnects: 1 });
    expect(h.takeWindow(17_100)).toEqual({ liveMs: 0, pollingMs: 0, offlineMs: 1000, worstStalenessMs: 0, reconnects: 0 });
    expect(h.totals(17_100).offlineMs).toBe(2000);
  });
});

describe('frame batcher', () => {
  it('notifies each changed key once per frame', () => {
    const frames: Array<() => void> = [];
    const flushed: string[][] = [];
    const b = new FrameBatcher<string>((cb) => frames.push(cb), (keys) => flushed.push([...keys]));
    b.mark('a');
    b.mark('b');
    b.mark('a');
    expect(frames).toHaveLength(1);
    frames.shift()!();
    expect(flushed).toEqual([['a', 'b']]);
    b.mark('a');
    frames.shift()!();
    expect(flushed).toEqual([['a', 'b'], ['a']]);
  });
});

describe('task filter', () => {
  const t = makeTask('a', { status: 'running', type: 'pdf', tags: ['p:1'], parentId: 'root' });
  it('matches the server filters: status (active), type, tag, parentId', () => {
    expect(matchesFilter(t, {})).toBe(true);
    expect(matchesFilter(t, { status: 'active' })).toBe(true);
    expect(matchesFilter(t, { status: ['completed', 'failed'] })).toBe(false);
    expect(matchesFilter(t, { type: 'pdf', tag: 'p:1', parentId: 'root' })).toBe(true);
    expect(matchesFilter(t, { tag: 'p:2' })).toBe(false);
    expect(matchesFilter(t, { parentId: 'other' })).toBe(false);
  });
  it('builds the list query and sorts newest first', () => {
    expect(queryString(filterToQuery({ status: ['queued', 'running'], tag: 'x' }))).toBe('?status=queued%2Crunning&tag=x');
    const older = makeTask('o', { createdAt: '2026-01-01T00:00:00.000Z' });
    expect([older, t].sort(compareNewestFirst)[0]!.id).toBe('a');
  });
});

describe('heartbeat interval', () => {
  it('uses the configured interval until two gaps are measured, then the largest recent gap', () => {
    const h = new HeartbeatInterval(5000);
    h.heartbeat(0);
    h.heartbeat(1000);
    expect(h.ms).toBe(5000);
    h.heartbeat(2100);
    expect(h.ms).toBe(1100);
    h.streamOpened(); // a new stream: the gap across the reconnect is not a heartbeat gap
    h.heartbeat(60_000);
    h.heartbeat(61_000);
    expect(h.ms).toBe(1100);
    h.heartbeat(62_000);
    h.heartbeat(63_000);
    expect(h.ms).toBe(1000);
  });
  it('is bounded', () => {
    const fast = new HeartbeatInterval(5000);
    [0, 1, 2, 3].forEach((t) => fast.heartbeat(t));
    expect(fast.ms).toBe(250);
    const slow = new HeartbeatInterval(5000);
    [0, 100_000, 200_000].forEach((t) => slow.heartbeat(t));
    expect(slow.ms).toBe(60_000);
  });
});
