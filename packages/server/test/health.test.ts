/**
 * Health and queue wait through the real task service and SQLite store (in memory) on a fake
 * clock: `stuck` and `slow` come from the deadlines the service keeps per running task
 * (checkDeadlines), not from waiting for the 5 s full scan; a queued task's wait comes from the
 * running tasks' ETAs and the type's mean run.
 */
import { describe, expect, it } from 'vitest';
import type { Task } from '@taskpulse/protocol';
import { SqliteStore } from '../src/store/sqlite/index.ts';
import { HistoryCache } from '../src/eta/history.ts';
import { DEFAULT_HEALTH } from '../src/eta/eta.ts';
import { composeTasks } from '../src/tasks/compose.ts';

const ADMIN = { role: 'admin' as const, keyId: null };

async function world() {
  let now = Date.parse('2026-01-01T00:00:00Z');
  const clock = { now: () => now, advance: (ms: number) => (now += ms) };
  const store = new SqliteStore({ file: ':memory:' });
  const history = new HistoryCache(store, { now: clock.now });
  const { service, health: checks } = composeTasks({ store, history, now: clock.now, leaseMs: 3_600_000, health: DEFAULT_HEALTH, waitForEvent: async () => {} });
  /** Every change of a task's health, when it was committed. */
  const health: { id: string; health: string; at: number }[] = [];
  const last = new Map<string, string>();
  store.onCommit((events) => {
    for (const e of events) {
      if (!e.taskId || !e.json.includes('"health"')) continue;
      const h = (JSON.parse(e.json) as { task: Partial<Task> }).task.health;
      if (h && h !== (last.get(e.taskId) ?? 'ok')) health.push({ id: e.taskId, health: h, at: now });
      if (h) last.set(e.taskId, h);
    }
  });
  /** One healthy run: `fetch` (no items) then `parse` with 10 items, each `itemMs`. */
  const run = async (fetchMs: number, itemMs: number) => {
    const { task, lease } = await service.create(ADMIN, { type: 'pdf', owner: 'u', start: true, stages: [{ key: 'fetch' }, { key: 'parse' }] }, null);
    clock.advance(fetchMs);
    await service.progress(task.id, { lease: lease!.token, stage: 'parse', done: 0, total: 10 });
    for (let i = 1; i <= 10; i++) {
      clock.advance(itemMs);
      await service.progress(task.id, { lease: lease!.token, done: i });
    }
    await service.complete(task.id, lease!.token, null);
  };
  return { clock, store, service, checks, health, run };
}

describe('health deadlines in the task service', () => {
  it('stuck: flagged at the last check within 3× the usual gap, not at the next full scan', async () => {
    const w = await world();
    // 40 runs: parse gaps of ~100 ms (p99 ~ 130 ms → the 3 s floor), fetch ~1 s.
    for (let i = 0; i < 40; i++) await w.run(1000 + (i % 5) * 20, 100 + (i % 7) * 5);
    const { task, lease } = await w.service.create(ADMIN, { type: 'pdf', owner: 'u', start: true, stages: [{ key: 'fetch' }, { key: 'parse' }] }, null);
    w.clock.advance(1000);
    await w.service.progress(task.id, { lease: lease!.token, stage: 'parse', done: 0, total: 10 });
    w.clock.advance(100);
    await w.service.progress(task.id, { lease: lease!.token, done: 1 });
    const movedAt = w.clock.now();
    for (let t = 0; t < 2750; t += 250) {
      w.clock.advance(250);
      await w.checks.checkDeadlines();
    }
    // Meanwhile parse (usually ~1.2 s) has run far longer than it should: slow, not yet stuck.
    expect(w.health.filter((h) => h.id === task.id).map((h) => h.health)).toEqual(['slow']);
    w.clock.advance(250);
    await w.checks.checkDeadlines();
    // At the last 250 ms check at or before the 3 s limit (waiting for "past it" told it at 3.25 s).
    expect(w.health.filter((h) => h.id === task.id).at(-1)).toEqual({ id: task.id, health: 'stuck', at: movedAt + 3000 });
    // It moves again: ok at once.
    await w.service.progress(task.id, { lease: lease!.token, done: 2 });
    expect(w.health.at(-1)).toMatchObject({ id: task.id, health: 'ok' });
    await w.store.close();
  });

  it('slow: a stage outlasting its healthy runs is flagged while it still runs', async () => {
    const w = await world();
    for (let i = 0; i < 40; i++) await w.run(1000 + (i % 5) * 20, 100 + (i % 7) * 5);
    const { task } = await w.service.create(ADMIN, { type: 'pdf', owner: 'u', start: true, stages: [{ key: 'fetch' }, { key: 'parse' }] }, null);
    // fetch usually ~1 s with a small spread: 2 s is far out; checked every 250 ms.
    for (let t = 0; t < 2000; t += 250) {
      w.clock.advance(250);
      await w.checks.checkDeadlines();
    }
    const flagged = w.health.filter((h) => h.id === task.id);
    expect(flagged).toHaveLength(1);
    expect(flagged[0]!.health).toBe('slow');
    expect(flagged[0]!.at).toBeLessThan(Date.parse(task.createdAt) + 2000);
    await w.store.close();
  });

  it('queue wait: the running tasks\' ETAs, then the mean run, per position', async () => {
    const w = await world();
    for (let i = 0; i < 20; i++) await w.run(1000, 100); // 2 s a run
    const a = await w.service.create(ADMIN, { type: 'pdf', owner: 'u', start: true, stages: [{ key: 'fetch' }, { key: 'parse' }] }, null);
    w.clock.advance(1000);
    await w.service.progress(a.task.id, { lease: a.lease!.token, stage: 'parse', done: 5, total: 10 });
    // One worker, half way (≈ 0.5 s left): the next queued task waits that, the one after a run more.
    const q1 = await w.service.create(ADMIN, { type: 'pdf', owner: 'u', stages: [{ key: 'fetch' }, { key: 'parse' }] }, null);
    const q2 = await w.service.create(ADMIN, { type: 'pdf', owner: 'u', stages: [{ key: 'fetch' }, { key: 'parse' }] }, null);
    expect(q1.task.queue!.position).toBe(1);
    expect(q1.task.queue!.estimatedWaitMs!).toBeGreaterThan(200);
    expect(q1.task.queue!.estimatedWaitMs!).toBeLessThan(900);
    expect(q2.task.queue!.estimatedWaitMs! - q1.task.queue!.estimatedWaitMs!).toBeGreaterThan(1800);
    expect(q2.task.queue!.estimatedWaitMs! - q1.task.queue!.estimatedWaitMs!).toBeLessThan(2200);
    await w.store.close();
  });
});
