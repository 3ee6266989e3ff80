/**
 * Calibration on the user's own tasks, end to end over HTTP: tasks run by a worker through a
 * real server; when they complete, what their ETA said along the way is scored and
 * `GET /v1/stats` reports the observed accuracy per type.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildTestServer, type TestApp } from './support.ts';

let s: TestApp;
beforeAll(async () => {
  s = await buildTestServer();
});
afterAll(async () => {
  await s.close();
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('ETA calibration', () => {
  it('scores the ETAs of completed tasks and reports accuracy per type in /v1/stats', async () => {
    const before = await s.api('GET', '/v1/stats?type=scan');
    expect(before.body.types).toEqual([]);
    // A steady task run three times, reporting each item: its ETA has a pace to go on.
    for (let run = 0; run < 3; run++) {
      const created = await s.api('POST', '/v1/tasks', { type: 'scan', owner: 'u', start: true, stages: [{ key: 'read' }] });
      expect(created.status).toBe(201);
      const { task, lease } = created.body;
      for (let done = 0; done <= 8; done++) {
        const r = await s.api('POST', `/v1/tasks/${task.id}/progress`, { lease: lease.token, done, total: 8 });
        expect(r.status).toBe(200);
        // Real time passes between items (the ETA is sampled at most every 250 ms at first).
        await sleep(60);
      }
      expect((await s.api('POST', `/v1/tasks/${task.id}/complete`, { lease: lease.token })).status).toBe(200);
    }
    // A failed task is not scored: its true duration is unknown.
    const failed = await s.api('POST', '/v1/tasks', { type: 'scan', owner: 'u', start: true });
    await s.api('POST', `/v1/tasks/${failed.body.task.id}/fail`, { lease: failed.body.lease.token, error: { message: 'no' } });

    const stats = await s.api('GET', '/v1/stats?type=scan');
    expect(stats.status).toBe(200);
    const eta = stats.body.types[0].eta;
    expect(eta.tasks).toBe(3);
    expect(eta.checkpoints.map((c: { at: number }) => c.at)).toEqual([10, 25, 50, 75, 90]);
    expect(eta.medianErrorAt50).toBeGreaterThanOrEqual(0);
    expect(eta.bandCoverage).toBeGreaterThanOrEqual(0);
    expect(eta.bandCoverage).toBeLessThanOrEqual(1);
    for (const c of eta.checkpoints) expect(c.count).toBeLessThanOrEqual(3);
    // A type with no completed task has no accuracy to show.
    const queued = await s.api('POST', '/v1/tasks', { type: 'idle', owner: 'u' });
    expect(queued.status).toBe(201);
    const idle = await s.api('GET', '/v1/stats?type=idle');
    expect(idle.body.types[0].eta).toBeNull();
  });
});
