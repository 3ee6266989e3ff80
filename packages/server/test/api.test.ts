import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually } from '../../../test-support/eventually.ts';
import { buildTestServer, runningTask, type TestApp } from './support.ts';

let t: TestApp;
beforeAll(async () => {
  t = await buildTestServer({ reaperIntervalMs: 50 });
});
afterAll(async () => t.close());

describe('tasks', () => {
  it('creates, reads with ETag/304, and lists newest first with filters and a cursor', async () => {
    const a = await t.api('POST', '/v1/tasks', { type: 'list-a', owner: 'o1', tags: ['project:1'], input: { q: 'x' } });
    expect(a.status).toBe(201);
    expect(a.body).toMatchObject({ type: 'list-a', owner: 'o1', status: 'queued', attempt: 0, maxAttempts: 3, input: { q: 'x' }, tags: ['project:1'] });
    expect(a.body.id).toMatch(/^tsk_/);
    expect(a.body.queue).toEqual({ position: 1, estimatedWaitMs: null });
    const b = await t.api('POST', '/v1/tasks', { type: 'list-a', owner: 'o2' });
    expect(b.body.queue.position).toBe(2);

    const got = await t.api('GET', `/v1/tasks/${a.body.id}`);
    expect(got.status).toBe(200);
    const etag = got.headers.get('etag')!;
    expect(etag).toBeTruthy();
    const again = await t.api('GET', `/v1/tasks/${a.body.id}`, undefined, undefined, { 'if-none-match': etag });
    expect(again.status).toBe(304);

    const list = await t.api('GET', '/v1/tasks?type=list-a&limit=1');
    expect(list.body.tasks.map((x: any) => x.id)).toEqual([b.body.id]);
    const next = await t.api('GET', `/v1/tasks?type=list-a&limit=1&cursor=${list.body.nextCursor}`);
    expect(next.body.tasks.map((x: any) => x.id)).toEqual([a.body.id]);
    expect(next.body.nextCursor).toBeNull();
    const tagged = await t.api('GET', '/v1/tasks?tag=project:1');
    expect(tagged.body.tasks.map((x: any) => x.id)).toEqual([a.body.id]);
    const active = await t.api('GET', '/v1/tasks?type=list-a&status=active');
    expect(active.body.tasks).toHaveLength(2);
    const done = await t.api('GET', '/v1/tasks?type=list-a&status=completed,failed');
    expect(done.body.tasks).toHaveLength(0);
  });

  it('replays an idempotent create with 200 and the first task; a different body is a conflict', async () => {
    const body = { type: 'idem', owner: 'o1', input: { n: 1 } };
    const first = await t.api('POST', '/v1/tasks', body, undefined, { 'idempotency-key': 'k-1' });
    const second = await t.api('POST', '/v1/tasks', body, undefined, { 'idempotency-key': 'k-1' });
    expect(first.status).toBe(201);
    expect(second.status).toBe(200);
    expect(second.body.id).toBe(first.body.id);
    const other = await t.api('POST', '/v1/tasks', { ...body, input: { n: 2 } }, undefined, { 'idempotency-key': 'k-1' });
    expect(other.status).toBe(409);
    expect(other.body.error.code).toBe('conflict');
    const list = await t.api('GET', '/v1/tasks?type=idem');
    expect(list.body.tasks).toHaveLength(1);
  });

  it('runs the worker protocol: claim, stages with weights, progress, logs, complete, notification', async () => {
    const type = 'flow';
    const created = await t.api('POST', '/v1/tasks', { type, owner: 'o9', stages: [{ key: 'fetch', weight: 1 }, { key: 'parse', label: 'Parsing', weight: 3 }] });
    const claim = await t.api('POST', '/v1/tasks/claim', { types: [type], leaseMs: 5000 });
    expect(claim.status).toBe(200);
    expect(claim.body.task).toMatchObject({ id: created.body.id, status: 'running', attempt: 1, stage: { key: 'fetch', index: 0, count: 2 } });
    const lease = claim.body.lease.token;
    const id = created.body.id;

    const p1 = await t.api('POST', `/v1/tasks/${id}/progress`, { lease, done: 1, total: 2, message: 'half of fetch' });
    expect(p1.status).toBe(200);
    expect(p1.body).toMatchObject({ cancelRequested: false });
    expect(typeof p1.body.seq).toBe('number');
    let task = (await t.api('GET', `/v1/tasks/${id}`)).body;
    expect(task.progress).toEqual({ done: 1, total: 2, percent: 12.5 });
    expect(task.seq).toBe(p1.body.seq);

    const p2 = await t.api('POST', `/v1/tasks/${id}/progress`, { lease, stage: 'parse', done: 1, total: 3, log: { level: 'warn', message: 'slow page' } });
    task = (await t.api('GET', `/v1/tasks/${id}`)).body;
    expect(task.stage).toEqual({ key: 'parse', label: 'Parsing', index: 1, count: 2 });
    expect(task.progress.percent).toBe(50);
    expect(task.stages[0]).toMatchObject({ key: 'fetch', status: 'completed' });
    expect(task.stages[0].endedAt).toBeTruthy();
    const logs = await t.api('GET', `/v1/tasks/${id}/logs`);
    expect(logs.body.logs).toEqual([{ seq: p2.body.seq, at: expect.any(String), level: 'warn', message: 'slow page' }]);

    // An undeclared stage is appended with weight 1.
    await t.api('POST', `/v1/tasks/${id}/progress`, { lease, stage: 'extra' });
    task = (await t.api('GET', `/v1/tasks/${id}`)).body;
    expect(task.stages.map((s: any) => [s.key, s.weight])).toEqual([['fetch', 1], ['parse', 3], ['extra', 1]]);
    // Percent never goes backwards within an attempt even though the weights grew.
    expect(task.progress.percent).toBeGreaterThanOrEqual(50);

    const hb = await t.api('POST', `/v1/tasks/${id}/heartbeat`, { lease });
    expect(hb.status).toBe(200);
    expect(Date.parse(hb.body.lease.expiresAt)).toBeGreaterThan(Date.now());

    const done = await t.api('POST', `/v1/tasks/${id}/complete`, { lease, result: { rows: 3 } });
    expect(done.body).toMatchObject({ status: 'completed', result: { rows: 3 }, progress: { percent: 100 } });
    const late = await t.api('POST', `/v1/tasks/${id}/progress`, { lease, done: 2 });
    expect(late.status).toBe(409);
    expect(late.body.error.code).toBe('task_finished');

    const inbox = await t.api('GET', '/v1/notifications?owner=o9');
    expect(inbox.body.notifications).toHaveLength(1);
    expect(inbox.body.notifications[0]).toMatchObject({ taskId: id, kind: 'completed', readAt: null });
  });

  it('fences: a stale lease gets 409 lease_lost and changes nothing', async () => {
    const type = 'fence';
    const created = await t.api('POST', '/v1/tasks', { type, owner: 'o1', maxAttempts: 2 });
    const first = await t.api('POST', '/v1/tasks/claim', { types: [type], leaseMs: 1000 });
    // Let the lease run out: the reaper sends the task back to the queue, the next claim is attempt 2.
    await eventually('the reaper requeued the task', async () => (await t.api('GET', `/v1/tasks/${created.body.id}`)).body.status === 'queued');
    const second = await t.api('POST', '/v1/tasks/claim', { types: [type], leaseMs: 30_000 });
    expect(second.body.task.attempt).toBe(2);
    await t.api('POST', `/v1/tasks/${created.body.id}/progress`, { lease: second.body.lease.token, done: 5, total: 10 });
    const before = (await t.api('GET', `/v1/tasks/${created.body.id}`)).body;

    for (const [path, body] of [
      ['progress', { lease: first.body.lease.token, done: 9, total: 10 }],
      ['heartbeat', { lease: first.body.lease.token }],
      ['complete', { lease: first.body.lease.token, result: 'zombie' }],
      ['fail', { lease: first.body.lease.token, error: { message: 'zombie' } }],
    ] as const) {
      const r = await t.api('POST', `/v1/tasks/${created.body.id}/${path}`, body);
      expect(r.status, path).toBe(409);
      expect(r.body.error.code, path).toBe('lease_lost');
    }
    const batch = await t.api('POST', '/v1/progress', { updates: [{ id: created.body.id, lease: first.body.lease.token, done: 9 }] });
    expect(batch.body.results[0]).toMatchObject({ ok: false, error: { code: 'lease_lost' } });
    const after = (await t.api('GET', `/v1/tasks/${created.body.id}`)).body;
    expect({ ...after, eta: null }).toEqual({ ...before, eta: null });
  });

  it('reaps an expired lease to failed/stalled once attempts are used up', async () => {
    const type = 'stall';
    const created = await t.api('POST', '/v1/tasks', { type, owner: 'o1', maxAttempts: 1 });
    await t.api('POST', '/v1/tasks/claim', { types: [type], leaseMs: 1000 });
    await eventually('the reaper failed the task', async () => (await t.api('GET', `/v1/tasks/${created.body.id}`)).body.status === 'failed');
    const task = (await t.api('GET', `/v1/tasks/${created.body.id}`)).body;
    expect(task.error.code).toBe('stalled');
  });

  it('retries a failure while attempts remain, then fails', async () => {
    const type = 'retry';
    const created = await t.api('POST', '/v1/tasks', { type, owner: 'o1', maxAttempts: 2 });
    const c1 = await t.api('POST', '/v1/tasks/claim', { types: [type] });
    const f1 = await t.api('POST', `/v1/tasks/${created.body.id}/fail`, { lease: c1.body.lease.token, error: { code: 'boom', message: 'x' }, retry: true });
    expect(f1.body).toMatchObject({ status: 'queued', error: { code: 'boom' } });
    const c2 = await t.api('POST', '/v1/tasks/claim', { types: [type] });
    expect(c2.body.task.attempt).toBe(2);
    const f2 = await t.api('POST', `/v1/tasks/${created.body.id}/fail`, { lease: c2.body.lease.token, error: { code: 'boom', message: 'y' }, retry: true });
    expect(f2.body).toMatchObject({ status: 'failed', error: { code: 'boom', message: 'y' } });
  });

  it('cancels: queued at once, running on the worker\'s next report, finished is 409', async () => {
    const q = await t.api('POST', '/v1/tasks', { type: 'cancel-q', owner: 'o1' });
    const cq = await t.api('POST', `/v1/tasks/${q.body.id}/cancel`);
    expect(cq.body.status).toBe('canceled');
    const again = await t.api('POST', `/v1/tasks/${q.body.id}/cancel`);
    expect(again.status).toBe(409);
    expect(again.body.error.code).toBe('task_finished');

    const { id, lease } = await runningTask(t);
    const cr = await t.api('POST', `/v1/tasks/${id}/cancel`);
    expect(cr.body).toMatchObject({ status: 'running', cancelRequested: true });
    const report = await t.api('POST', `/v1/tasks/${id}/progress`, { lease, done: 1, total: 2 });
    expect(report.body.cancelRequested).toBe(true);
    const ended = await t.api('POST', `/v1/tasks/${id}/fail`, { lease, error: { code: 'canceled', message: 'stopped' } });
    expect(ended.body.status).toBe('canceled');
  });

  it('claims long-poll: 204 when nothing comes, the task when one is created meanwhile', async () => {
    const type = `lp_${Date.now()}`;
    const empty = await t.api('POST', '/v1/tasks/claim', { types: [type], waitMs: 100 });
    expect(empty.status).toBe(204);
    const waiting = t.api('POST', '/v1/tasks/claim', { types: [type], waitMs: 10_000 });
    const created = await t.api('POST', '/v1/tasks', { type, owner: 'o1' });
    const got = await waiting;
    expect(got.status).toBe(200);
    expect(got.body.task.id).toBe(created.body.id);
  });

  it('aggregates children counts and percent on the parent', async () => {
    const parent = await t.api('POST', '/v1/tasks', { type: 'batch', owner: 'o1' });
    const kids = [];
    for (let i = 0; i < 4; i++) kids.push((await t.api('POST', '/v1/tasks', { type: 'batch-item', owner: 'o1', parentId: parent.body.id })).body);
    let p = (await t.api('GET', `/v1/tasks/${parent.body.id}`)).body;
    expect(p.children).toEqual({ total: 4, queued: 4, running: 0, completed: 0, failed: 0, canceled: 0 });
    const c = await t.api('POST', '/v1/tasks/claim', { types: ['batch-item'] });
    await t.api('POST', `/v1/tasks/${c.body.task.id}/complete`, { lease: c.body.lease.token });
    await t.api('POST', `/v1/tasks/${kids[3].id}/cancel`);
    p = (await t.api('GET', `/v1/tasks/${parent.body.id}`)).body;
    expect(p.children).toEqual({ total: 4, queued: 2, running: 0, completed: 1, failed: 0, canceled: 1 });
    expect(p.progress.percent).toBe(50);
    const listed = await t.api('GET', `/v1/tasks?parentId=${parent.body.id}`);
    expect(listed.body.tasks).toHaveLength(4);
    const orphan = await t.api('POST', '/v1/tasks', { type: 'x', owner: 'o1', parentId: 'tsk_missing' });
    expect(orphan.status).toBe(400);
  });

  it('creates a task already running for an existing queue (start: true)', async () => {
    const r = await t.api('POST', '/v1/tasks', { type: 'ext', owner: 'o1', start: true });
    expect(r.status).toBe(201);
    expect(r.body.task.status).toBe('running');
    expect(r.body.lease.token).toBeTruthy();
    const p = await t.api('POST', `/v1/tasks/${r.body.task.id}/progress`, { lease: r.body.lease.token, done: 1, total: 4 });
    expect(p.status).toBe(200);
  });

  it('applies batched reports in order, one result per update', async () => {
    const a = await runningTask(t);
    const b = await runningTask(t);
    const r = await t.api('POST', '/v1/progress', {
      updates: [
        { id: a.id, lease: a.lease, done: 1, total: 10 },
        { id: b.id, lease: 'lse_wrong', done: 1, total: 10 },
        { id: a.id, lease: a.lease, done: 2 },
        { id: 'tsk_nope', lease: a.lease, done: 2 },
      ],
    });
    expect(r.status).toBe(200);
    expect(r.body.results.map((x: any) => [x.id, x.ok, x.error?.code])).toEqual([
      [a.id, true, undefined], [b.id, false, 'lease_lost'], [a.id, true, undefined], ['tsk_nope', false, 'not_found'],
    ]);
    expect(r.body.results[2].seq).toBeGreaterThan(r.body.results[0].seq);
    expect((await t.api('GET', `/v1/tasks/${a.id}`)).body.progress.done).toBe(2);
  });
});

describe('credentials', () => {
  it('creates, uses, lists and revokes API keys; roles are enforced', async () => {
    const k = await t.api('POST', '/v1/keys', { role: 'worker', name: 'importer' });
    expect(k.status).toBe(201);
    expect(k.body.key).toMatch(/^tpk_/);
    const worker = k.body.key;
    expect((await t.api('POST', '/v1/tasks', { type: 'k', owner: 'o' }, worker)).status).toBe(201);
    expect((await t.api('GET', '/v1/keys', undefined, worker)).status).toBe(403);
    const list = await t.api('GET', '/v1/keys');
    const info = list.body.keys.find((x: any) => x.id === k.body.id);
    expect(info).toMatchObject({ role: 'worker', name: 'importer' });
    expect(JSON.stringify(list.body)).not.toContain(worker);
    expect((await t.api('DELETE', `/v1/keys/${k.body.id}`)).status).toBe(200);
    const after = await t.api('POST', '/v1/tasks', { type: 'k', owner: 'o' }, worker);
    expect(after.status).toBe(401);
  });

  it('mints viewer tokens that read only their owner\'s tasks and may cancel them', async () => {
    const mine = await t.api('POST', '/v1/tasks', { type: 'v', owner: 'alice' });
    const theirs = await t.api('POST', '/v1/tasks', { type: 'v', owner: 'bob' });
    const token = await t.viewerToken('alice');
    expect((await t.api('GET', `/v1/tasks/${mine.body.id}`, undefined, token)).status).toBe(200);
    const other = await t.api('GET', `/v1/tasks/${theirs.body.id}`, undefined, token);
    expect(other.status).toBe(404);
    expect(other.body.error.code).toBe('not_found');
    expect((await t.api('POST', `/v1/tasks/${theirs.body.id}/cancel`, undefined, token)).status).toBe(404);
    expect((await t.api('GET', '/v1/tasks?owner=bob', undefined, token)).status).toBe(403);
    const list = await t.api('GET', '/v1/tasks?type=v', undefined, token);
    expect(list.body.tasks.map((x: any) => x.owner)).toEqual(['alice']);
    expect((await t.api('POST', '/v1/tasks', { type: 'v', owner: 'alice' }, token)).status).toBe(403);
    expect((await t.api('POST', '/v1/tasks/claim', {}, token)).status).toBe(403);
    expect((await t.api('POST', `/v1/tasks/${mine.body.id}/cancel`, undefined, token)).body.status).toBe('canceled');
  });

  it('marks notifications read and tells every reader with a notification.read event', async () => {
    const { id, lease } = await runningTask(t, { owner: 'carol' });
    await t.api('POST', `/v1/tasks/${id}/complete`, { lease });
    const token = await t.viewerToken('carol');
    const inbox = await t.api('GET', '/v1/notifications?unread=true', undefined, token);
    expect(inbox.body.notifications).toHaveLength(1);
    const n = inbox.body.notifications[0];
    const read = await t.api('POST', '/v1/notifications/read', { ids: [n.id] }, token);
    expect(read.body.ids).toEqual([n.id]);
    expect((await t.api('GET', '/v1/notifications?unread=true', undefined, token)).body.notifications).toHaveLength(0);
    const events = await t.api('GET', `/v1/events?after=${n.seq}&events=notification.read`, undefined, token);
    expect(events.body.events).toEqual([expect.objectContaining({ type: 'notification.read', read: { ids: [n.id], readAt: expect.any(String) } })]);
  });
});

describe('operations', () => {
  it('answers healthz, readyz, metrics and an OpenAPI document covering the routes', async () => {
    expect((await t.api('GET', '/healthz', undefined, '')).body).toEqual({ status: 'ok' });
    expect((await t.api('GET', '/readyz', undefined, '')).body).toEqual({ status: 'ready', storage: 'ok', bus: 'ok' });
    const m = await t.api('GET', '/metrics', undefined, '');
    expect(m.body).toContain('taskpulse_tasks{');
    expect(m.body).toContain('taskpulse_events_appended_total');
    expect(m.body).toContain('taskpulse_open_streams');
    // Process metrics carry the prefix once.
    expect(m.body).toContain('taskpulse_process_cpu_seconds_total');
    expect(m.body).not.toContain('taskpulse_process_process_');
    // HTTP requests by route pattern (not the raw URL) and status.
    await t.api('GET', '/v1/tasks/tsk_nope_metrics');
    const after = (await t.api('GET', '/metrics', undefined, '')).body as string;
    expect(after).toMatch(/taskpulse_http_requests_total\{method="GET",route="\/healthz",status="200"\} [1-9]/);
    expect(after).toMatch(/taskpulse_http_requests_total\{method="GET",route="\/v1\/tasks\/:id",status="404"\} [1-9]/);
    expect(after).toMatch(/taskpulse_http_request_duration_seconds_bucket\{le="[^"]+",method="GET",route="\/readyz",status="200"\} [1-9]/);
    expect(after).not.toContain('tsk_nope_metrics');
    const doc = await t.api('GET', '/openapi.json', undefined, '');
    expect(doc.body.openapi).toBe('3.0.3');
    for (const p of ['/v1/tasks', '/v1/tasks/{id}', '/v1/tasks/claim', '/v1/progress', '/v1/stream', '/v1/events', '/v1/tokens', '/v1/keys', '/v1/notifications']) {
      expect(doc.body.paths[p], p).toBeTruthy();
    }
    expect(doc.body.paths['/v1/tasks'].post.requestBody.content['application/json'].schema.properties.type).toBeTruthy();
  });
});

describe('conventions', () => {
  it('treats an empty JSON body as no body', async () => {
    const q = await t.api('POST', '/v1/tasks', { type: 'empty-body', owner: 'o1' });
    const res = await t.api('POST', `/v1/tasks/${q.body.id}/cancel`, ''); // content-type: application/json, no bytes
    expect(res.status).toBe(200);
    expect(res.body.status).toBe('canceled');
  });
});

describe('stats', () => {
  it('reports per type and stage figures from finished runs', async () => {
    const type = 'stats-type';
    for (let i = 0; i < 2; i++) {
      const { id, lease } = await runningTask(t, { type, stages: [{ key: 'a' }, { key: 'b' }] });
      await t.api('POST', `/v1/tasks/${id}/progress`, { lease, stage: 'b' });
      await t.api('POST', `/v1/tasks/${id}/complete`, { lease });
    }
    const r = await t.api('GET', `/v1/stats?type=${type}&windowMs=60000`);
    expect(r.status).toBe(200);
    expect(r.body.types).toHaveLength(1);
    expect(r.body.types[0]).toMatchObject({ type, count: 2, completed: 2 });
    expect(r.body.types[0].stages.map((s: any) => s.stage).sort()).toEqual(['a', 'b']);
    expect(Array.isArray(r.body.bottlenecks)).toBe(true);
    const viewer = await t.viewerToken('x');
    expect((await t.api('GET', '/v1/stats', undefined, viewer)).status).toBe(403);
  });
});
