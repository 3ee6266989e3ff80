/** The task state machine as pure functions: no server, no clock but the one passed in. */
import { describe, expect, it } from 'vitest';
import * as model from '../src/tasks/model.ts';

const T0 = Date.parse('2026-01-01T00:00:00Z');
const base = () => model.newTask({ type: 'pdf', owner: 'u', stages: [{ key: 'fetch' }, { key: 'parse', weight: 3 }] }, 'tsk_1', T0, null);
const running = () => model.claim(base(), 'lse_a', 10_000, T0).task;

describe('model', () => {
  it('claims: attempt 1, first stage running, lease set', () => {
    const t = running();
    expect(t).toMatchObject({ status: 'running', attempt: 1, stageIndex: 0, percent: 0, lease: { token: 'lse_a', expiresAtMs: T0 + 10_000 } });
    expect(t.stages[0]!.status).toBe('running');
  });

  it('rejects a stale or expired lease and a finished task', () => {
    const t = running();
    expect(() => model.progress(t, { lease: 'lse_b', done: 1 }, 10_000, T0 + 1)).toThrow(/current one/);
    expect(() => model.progress(t, { lease: 'lse_a', done: 1 }, 10_000, T0 + 10_001)).toThrow(/expired/);
    const done = model.complete(t, 'lse_a', null, T0 + 5).task;
    expect(() => model.progress(done, { lease: 'lse_a', done: 1 }, 10_000, T0 + 6)).toThrow(/already completed/);
  });

  it('renews a lease for the length chosen at claim, unless a report asks for another', () => {
    const t = model.claim(base(), 'lse_a', 1500, T0).task;
    // The server default (30 s here) applies only to a lease that never chose a length.
    const p = model.progress(t, { lease: 'lse_a', done: 1 }, 30_000, T0 + 1000).task;
    expect(p.lease!.expiresAtMs).toBe(T0 + 2500);
    const h = model.heartbeat(p, 'lse_a', undefined, 30_000, T0 + 2000).task;
    expect(h.lease!.expiresAtMs).toBe(T0 + 3500);
    const longer = model.heartbeat(h, 'lse_a', 8000, 30_000, T0 + 3000).task;
    expect(longer.lease!.expiresAtMs).toBe(T0 + 11_000);
    // A length a report chose is the length from then on.
    expect(model.progress(longer, { lease: 'lse_a', done: 2 }, 30_000, T0 + 4000).task.lease!.expiresAtMs).toBe(T0 + 12_000);
    // A lease stored before lengths were recorded falls back to the default.
    const legacy = { ...t, lease: { token: 'lse_a', expiresAtMs: T0 + 1500 } };
    expect(model.heartbeat(legacy, 'lse_a', undefined, 30_000, T0 + 1000).task.lease!.expiresAtMs).toBe(T0 + 31_000);
  });

  it('words the completion notification from the result, never from a stale progress message', () => {
    const t = model.progress(running(), { lease: 'lse_a', message: 'Fetching' }, 10_000, T0 + 1).task;
    const text = (result: unknown) => model.notificationText({ ...model.complete(t, 'lse_a', result, T0 + 2).task });
    expect(text(null)).toEqual({ title: 'pdf finished', body: 'Your task completed.' });
    expect(text({ pages: 3 }).body).toBe('Your task completed.');
    expect(text('Imported 12 pages').body).toBe('Imported 12 pages');
    expect(text({ message: 'Found 4 matches' }).body).toBe('Found 4 matches');
    expect(text({ summary: 'All done' }).body).toBe('All done');
    expect(text('x'.repeat(500)).body).toHaveLength(200);
    const failed = model.fail(t, 'lse_a', { code: 'boom', message: 'Disk full' }, false, T0 + 2).task;
    expect(model.notificationText(failed)).toEqual({ title: 'pdf failed', body: 'Disk full' });
  });

  it('moves stages forward, skipping undeclared gaps, and records the finished stage run', () => {
    const t = running();
    const c = model.progress(t, { lease: 'lse_a', stage: 'parse', done: 1, total: 3 }, 10_000, T0 + 2000);
    expect(c.milestone).toBe(true);
    expect(c.stageRuns).toEqual([{ type: 'pdf', stage: 'fetch', durationMs: 2000, size: null, endedAtMs: T0 + 2000 }]);
    expect(c.task.percent).toBe(50);
    expect(c.task.lease!.expiresAtMs).toBe(T0 + 12_000);
  });

  it('keeps percent monotonic when a stage is revisited', () => {
    let t = model.progress(running(), { lease: 'lse_a', stage: 'parse', done: 2, total: 3 }, 10_000, T0 + 1).task;
    const p = t.percent!;
    t = model.progress(t, { lease: 'lse_a', stage: 'fetch', done: 0, total: 1 }, 10_000, T0 + 2).task;
    expect(t.percent).toBe(p);
  });

  it('reports no event for a report that changes nothing', () => {
    const c = model.progress(running(), { lease: 'lse_a' }, 10_000, T0 + 1);
    expect(c.event).toBeNull();
  });

  it('fails with retry back to queued while attempts remain; canceled when cancel was requested', () => {
    const t = running();
    expect(model.fail(t, 'lse_a', { code: 'x', message: 'm' }, true, T0 + 1).task.status).toBe('queued');
    expect(model.fail({ ...t, attempt: 3 }, 'lse_a', { code: 'x', message: 'm' }, true, T0 + 1).task.status).toBe('failed');
    const asked = model.cancel(t, T0 + 1).task;
    expect(asked.cancelRequested).toBe(true);
    expect(model.fail(asked, 'lse_a', { code: 'canceled', message: '' }, false, T0 + 2).task.status).toBe('canceled');
  });

  it('expires to queued, then to failed/stalled when attempts are used up', () => {
    const t = running();
    expect(model.expire(t, T0 + 20_000).task).toMatchObject({ status: 'queued', lease: null, error: { code: 'stalled' } });
    expect(model.expire({ ...t, attempt: 3 }, T0 + 20_000).task).toMatchObject({ status: 'failed', error: { code: 'stalled' } });
  });

  it('counts children transitions on the parent', () => {
    let p = model.newTask({ type: 'batch', owner: 'u' }, 'tsk_p', T0, null);
    p = model.childTransition(p, null, 'queued', T0).task;
    p = model.childTransition(p, null, 'queued', T0).task;
    p = model.childTransition(p, 'queued', 'running', T0).task;
    p = model.childTransition(p, 'running', 'completed', T0).task;
    expect(p.children).toEqual({ total: 2, queued: 1, running: 0, completed: 1, failed: 0, canceled: 0 });
    expect(p.percent).toBe(50);
  });
});

describe('stats', async () => {
  const { computeStats } = await import('../src/stats/stats.ts');
  const run = (type: string, stage: string, durationMs: number) => ({ type, stage, durationMs, size: null, endedAtMs: T0 });
  it('names the stage that dominates, long queue waits and unpredictable stages', () => {
    const runs = [
      ...[1, 2, 3, 4, 5, 6].map(() => run('pdf', 'fetch', 1000)),
      ...[1, 2, 3, 4, 5].map(() => run('pdf', 'parse', 8000)),
      run('pdf', 'parse', 40_000),
      ...[1, 2, 3].map(() => run('pdf', '*', 9000)),
      ...[1, 2, 3].map(() => run('pdf', '~queue', 20_000)),
    ];
    const s = computeStats(runs, [{ type: 'pdf', status: 'queued', count: 4 }], 60_000);
    const pdf = s.types[0]!;
    expect(pdf).toMatchObject({ type: 'pdf', count: 3, medianMs: 9000, queued: 4, throughputPerMin: 3, queueWait: { medianMs: 20_000 } });
    expect(pdf.stages.map((x) => x.stage)).toEqual(['parse', 'fetch']);
    expect(s.bottlenecks.map((b) => [b.kind, b.stage])).toEqual(expect.arrayContaining([['stage', 'parse'], ['queue', null]]));
    expect(s.bottlenecks.find((b) => b.kind === 'queue')!.recommendation).toMatch(/add workers/);
  });
});

describe('a report\'s copy of the record', () => {
  it('keeps the record\'s fields in their order, and leaves the record as it was', () => {
    const t = running();
    const before = JSON.stringify(t);
    const next = model.progress(t, { lease: 'lse_a', done: 1, total: 4 }, 10_000, T0 + 5).task;
    expect(Object.keys(next)).toEqual(Object.keys(t));
    expect(JSON.stringify(t)).toBe(before);
    expect(next).toMatchObject({ done: 1, total: 4, heartbeatAt: model.iso(T0 + 5), lease: { token: 'lse_a', expiresAtMs: T0 + 10_005 } });
    const beat = model.heartbeat(next, 'lse_a', undefined, 10_000, T0 + 9).task;
    expect(Object.keys(beat)).toEqual(Object.keys(t));
    expect(beat.lease!.expiresAtMs).toBe(T0 + 10_009);
  });
});

describe('iso', () => {
  it('formats exactly as toISOString does, across days, years and odd inputs', () => {
    const times = [T0, T0 + 1, T0 + 86_399_999, T0 + 86_400_000, T0 - 1, 0, -1, -86_400_001, 1.5, T0 + 0.25, 253_402_300_799_999, 253_402_300_800_000, -62_167_219_200_001];
    for (let i = 0; i < 1000; i++) times.push(T0 + Math.round((i * 7_919_113) % 9e10) - 4e10);
    for (const ms of times) {
      expect(model.iso(ms)).toBe(new Date(ms).toISOString());
      expect(model.iso(ms)).toBe(new Date(ms).toISOString()); // memoized: the same again
    }
    expect(() => model.iso(NaN)).toThrow(RangeError);
  });
});
