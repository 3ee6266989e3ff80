/**
 * What the dashboard needs from the server: the staff token (reads everything, cancels and
 * retries, nothing else), retry, search and counts, history for the stats page (from the store,
 * so it survives a restart), the browsers' delivery health, and the app served at `/`.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SseReader, buildTestServer, type TestApp } from './support.ts';

let t: TestApp;
let staff: string;
let pages: string;
beforeAll(async () => {
  pages = mkdtempSync(join(tmpdir(), 'taskpulse-dash-'));
  mkdirSync(join(pages, 'assets'));
  writeFileSync(join(pages, 'index.html'), '<!doctype html><title>app</title>');
  writeFileSync(join(pages, 'assets', 'index-AbCdEf12.js'), 'console.log(1)');
  t = await buildTestServer({ dashboardDir: pages, heartbeatMs: 200 });
  const r = await t.api('POST', '/v1/tokens', { role: 'staff', ttlSeconds: 600 });
  expect(r.status).toBe(201);
  staff = r.body.token;
});
afterAll(async () => {
  await t.close();
  rmSync(pages, { recursive: true, force: true });
});

async function running(owner: string, type = 'dash', extra: Record<string, unknown> = {}) {
  const r = await t.api('POST', '/v1/tasks', { type, owner, start: true, stages: [{ key: 'a' }, { key: 'b' }], ...extra });
  expect(r.status).toBe(201);
  return { id: r.body.task.id as string, lease: r.body.lease.token as string };
}

async function failed(owner: string, message = 'boom') {
  const task = await running(owner);
  const r = await t.api('POST', `/v1/tasks/${task.id}/fail`, { lease: task.lease, error: { code: 'upstream', message } });
  expect(r.body.status).toBe('failed');
  return task;
}

describe('staff token', () => {
  it('is minted by an admin only, and never from a worker key or for an owner', async () => {
    const worker = (await t.api('POST', '/v1/keys', { role: 'worker', name: 'w' })).body.key;
    expect((await t.api('POST', '/v1/tokens', { role: 'staff' }, worker)).status).toBe(403);
    expect((await t.api('POST', '/v1/tokens', { role: 'staff', owner: 'x' })).status).toBe(400);
    expect((await t.api('POST', '/v1/tokens', { role: 'root' })).status).toBe(400);
    expect((await t.api('POST', '/v1/tokens', {})).status).toBe(400);
    expect((await t.api('POST', '/v1/tokens', { role: 'staff' }, staff)).status).toBe(403);
    const viewer = await t.viewerToken('someone');
    expect((await t.api('POST', '/v1/tokens', { role: 'staff' }, viewer)).status).toBe(403);
  });

  it('reads every owner\'s tasks, logs, events, notifications and stats', async () => {
    const a = await running('alice');
    const b = await running('bob');
    await t.api('POST', `/v1/tasks/${a.id}/progress`, { lease: a.lease, done: 1, total: 2, log: 'hello' });
    const list = await t.api('GET', '/v1/tasks?type=dash&limit=500', undefined, staff);
    expect(list.status).toBe(200);
    expect(list.body.tasks.map((x: any) => x.id)).toEqual(expect.arrayContaining([a.id, b.id]));
    expect((await t.api('GET', `/v1/tasks/${b.id}`, undefined, staff)).status).toBe(200);
    expect((await t.api('GET', `/v1/tasks/${a.id}/logs`, undefined, staff)).body.logs[0].message).toBe('hello');
    expect((await t.api('GET', `/v1/events?after=0&taskId=${a.id}`, undefined, staff)).body.events.length).toBeGreaterThan(0);
    expect((await t.api('GET', '/v1/stats', undefined, staff)).status).toBe(200);
    expect((await t.api('GET', '/v1/notifications?owner=alice', undefined, staff)).status).toBe(200);
    const stream = await SseReader.open(`${await t.listen()}/v1/stream`, staff); // a stream needs a socket
    await stream.until((e) => e.some((x) => x.event === 'snapshot'));
    const snap = JSON.parse(stream.events.find((x) => x.event === 'snapshot')!.data);
    expect(snap.tasks.map((x: any) => x.owner)).toEqual(expect.arrayContaining(['alice', 'bob']));
    stream.close();
  });

  it('may not create keys or tokens, create tasks, claim, report, complete, fail or manage webhooks', async () => {
    const task = await running('carol');
    const refused: [string, string, unknown][] = [
      ['POST', '/v1/keys', { role: 'admin', name: 'x' }],
      ['GET', '/v1/keys', undefined],
      ['DELETE', '/v1/keys/key_1', undefined],
      ['POST', '/v1/tokens', { owner: 'carol' }],
      ['POST', '/v1/tasks', { type: 'x', owner: 'carol' }],
      ['POST', '/v1/tasks/claim', {}],
      ['POST', `/v1/tasks/${task.id}/progress`, { lease: task.lease, done: 1 }],
      ['POST', '/v1/progress', { updates: [{ id: task.id, lease: task.lease, done: 1 }] }],
      ['POST', `/v1/tasks/${task.id}/heartbeat`, { lease: task.lease }],
      ['POST', `/v1/tasks/${task.id}/complete`, { lease: task.lease }],
      ['POST', `/v1/tasks/${task.id}/fail`, { lease: task.lease, error: { message: 'x' } }],
      ['POST', '/v1/webhooks', { url: 'http://127.0.0.1:1/x', events: ['task.completed'], secret: '0123456789abcdef' }],
      ['GET', '/v1/webhooks', undefined],
      ['POST', '/v1/notifications/read?owner=carol', { upToSeq: 1 }],
    ];
    for (const [method, path, body] of refused) {
      const r = await t.api(method, path, body, staff);
      expect(r.status, `${method} ${path}`).toBe(403);
      expect(r.body.error.code).toBe('forbidden');
    }
    expect((await t.api('GET', `/v1/tasks/${task.id}`)).body.status).toBe('running');
  });

  it('a viewer token cannot use the staff routes', async () => {
    const carol = await t.viewerToken('carol');
    const task = await failed('carol');
    expect((await t.api('POST', `/v1/tasks/${task.id}/retry`, undefined, carol)).status).toBe(403);
    expect((await t.api('GET', '/v1/stats', undefined, carol)).status).toBe(403);
    expect((await t.api('GET', '/v1/stats/history', undefined, carol)).status).toBe(403);
    expect((await t.api('GET', '/v1/client-metrics', undefined, carol)).status).toBe(403);
    expect((await t.api('GET', '/v1/tasks?owner=alice', undefined, carol)).status).toBe(403);
    expect((await t.api('GET', '/v1/tasks/counts?owner=alice', undefined, carol)).status).toBe(403);
  });

  it('a token signed with another secret is refused', async () => {
    const other = await buildTestServer({ secret: 'another-secret-0123456789' });
    try {
      const forged = (await other.api('POST', '/v1/tokens', { role: 'staff' })).body.token;
      expect((await t.api('GET', '/v1/tasks', undefined, forged)).status).toBe(401);
    } finally {
      await other.close();
    }
  });
});

describe('retry', () => {
  it('queues a failed task again as a new attempt, keeping the earlier one; cancels too', async () => {
    const task = await failed('dave', 'first try failed');
    const r = await t.api('POST', `/v1/tasks/${task.id}/retry`, undefined, staff);
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ status: 'queued', attempt: 1, error: null, endedAt: null, result: null });
    expect(r.body.attempts).toEqual([expect.objectContaining({ attempt: 1, status: 'failed', error: expect.objectContaining({ message: 'first try failed' }) })]);
    const logs = (await t.api('GET', `/v1/tasks/${task.id}/logs`, undefined, staff)).body.logs;
    expect(logs.at(-1).message).toMatch(/retry requested/);
    // Not finished: a second retry conflicts; a staff cancel works on it.
    expect((await t.api('POST', `/v1/tasks/${task.id}/retry`, undefined, staff)).status).toBe(409);
    const canceled = await t.api('POST', `/v1/tasks/${task.id}/cancel`, undefined, staff);
    expect(canceled.body.status).toBe('canceled');
    const again = await t.api('POST', `/v1/tasks/${task.id}/retry`);
    expect(again.body.status).toBe('queued');
    expect(again.body.attempts.map((a: any) => a.status)).toEqual(['failed', 'canceled']);
  });

  it('answers 409 for running and completed tasks, 404 for unknown ones', async () => {
    const task = await running('erin');
    expect((await t.api('POST', `/v1/tasks/${task.id}/retry`, undefined, staff)).status).toBe(409);
    await t.api('POST', `/v1/tasks/${task.id}/complete`, { lease: task.lease, result: { ok: 1 } });
    const r = await t.api('POST', `/v1/tasks/${task.id}/retry`, undefined, staff);
    expect(r.status).toBe(409);
    expect((await t.api('GET', `/v1/tasks/${task.id}`)).body.result).toEqual({ ok: 1 });
    expect((await t.api('POST', '/v1/tasks/tsk_nope/retry', undefined, staff)).status).toBe(404);
    expect((await t.api('POST', `/v1/tasks/${task.id}/retry`, '{"reason": 5}', staff, { 'content-type': 'application/json' })).status).toBe(400);
  });

  it('a retried task is claimed again and its parent counts follow', async () => {
    const parent = (await t.api('POST', '/v1/tasks', { type: 'retry-parent', owner: 'fay' })).body;
    const child = await running('fay', 'retry-child', { parentId: parent.id });
    await t.api('POST', `/v1/tasks/${child.id}/fail`, { lease: child.lease, error: { message: 'x' } });
    expect((await t.api('GET', `/v1/tasks/${parent.id}`)).body.children).toMatchObject({ failed: 1, queued: 0 });
    await t.api('POST', `/v1/tasks/${child.id}/retry`, undefined, staff);
    expect((await t.api('GET', `/v1/tasks/${parent.id}`)).body.children).toMatchObject({ failed: 0, queued: 1 });
    const claimed = await t.api('POST', '/v1/tasks/claim', { types: ['retry-child'] });
    expect(claimed.body.task).toMatchObject({ id: child.id, status: 'running', attempt: 2 });
  });
});

describe('search, counts and time range', () => {
  it('finds a task by id, owner, type, tag or text in its input, message, result and error', async () => {
    const a = await running('searcher-1', 'search-type', { input: { url: 'https://Example.org/Needle_%' }, tags: ['proj:9'] });
    await t.api('POST', `/v1/tasks/${a.id}/progress`, { lease: a.lease, message: 'Parsing haystack page 3' });
    const b = await failed('searcher-2', 'connection refused by upstream-xyz');
    const ids = async (q: string) => (await t.api('GET', `/v1/tasks?q=${encodeURIComponent(q)}&limit=500`, undefined, staff)).body.tasks.map((x: any) => x.id);
    expect(await ids(a.id)).toEqual([a.id]);
    expect(await ids('searcher-1')).toEqual([a.id]);
    expect(await ids('needle_%')).toEqual([a.id]);
    expect(await ids('HAYSTACK')).toEqual([a.id]);
    expect(await ids('upstream-xyz')).toEqual([b.id]);
    expect(await ids('proj:9')).toEqual([a.id]);
    expect(await ids('no such text anywhere')).toEqual([]);
    const viewer = await t.viewerToken('searcher-2');
    expect((await t.api('GET', `/v1/tasks?q=${a.id}`, undefined, viewer)).body.tasks).toEqual([]);
  });

  it('counts per status under the same filters, and filters by creation time', async () => {
    await running('counter', 'count-type');
    await failed('counter');
    const c = await t.api('GET', '/v1/tasks/counts?owner=counter', undefined, staff);
    expect(c.body.counts).toEqual({ queued: 0, running: 1, completed: 0, failed: 1, canceled: 0 });
    const future = new Date(Date.now() + 3600_000).toISOString();
    expect((await t.api('GET', `/v1/tasks?owner=counter&createdFrom=${future}`, undefined, staff)).body.tasks).toEqual([]);
    expect((await t.api('GET', `/v1/tasks?owner=counter&createdTo=${encodeURIComponent(future.replace('Z', '+00:00'))}`, undefined, staff)).body.tasks).toHaveLength(2);
    expect((await t.api('GET', '/v1/tasks?createdFrom=yesterday', undefined, staff)).status).toBe(400);
    expect((await t.api('GET', `/v1/tasks?q=${'x'.repeat(201)}`, undefined, staff)).status).toBe(400);
  });
});

describe('sorting, server-side', () => {
  // Four tasks of one owner: progress 50, 10, none, 90; owners differ by a suffix.
  async function fixture(tag: string) {
    const made: { id: string; lease: string }[] = [];
    for (const [i, done] of [50, 10, null, 90].entries()) {
      const r = await t.api('POST', '/v1/tasks', { type: `sort-${i % 2}`, owner: `sorter-${'dcba'[i]}`, tags: [tag], start: true });
      made.push({ id: r.body.task.id, lease: r.body.lease.token });
      if (done !== null) await t.api('POST', `/v1/tasks/${r.body.task.id}/progress`, { lease: r.body.lease.token, done, total: 100 });
    }
    return made;
  }
  /** Every page of a sorted list, two at a time, following the cursors. */
  async function all(query: string): Promise<string[]> {
    const ids: string[] = [];
    let cursor: string | null = null;
    do {
      const r: { status: number; body: any } = await t.api('GET', `/v1/tasks?${query}&limit=2${cursor ? `&cursor=${cursor}` : ''}`, undefined, staff);
      expect(r.status).toBe(200);
      ids.push(...r.body.tasks.map((x: any) => x.id));
      cursor = r.body.nextCursor;
    } while (cursor);
    return ids;
  }

  it('sorts the whole list (not a page) by owner, type, status or creation, and pages through it in that order; not by progress', async () => {
    const made = await fixture('sort-1');
    const [a, b, c, d] = made.map((m) => m.id);
    // Progress changes with every report: an index on it would double the WAL per report, so it is no sort.
    expect((await t.api('GET', '/v1/tasks?tag=sort-1&sort=progress', undefined, staff)).status).toBe(400);
    expect(await all('tag=sort-1&sort=owner&order=asc')).toEqual([d, c, b, a]);
    expect(await all('tag=sort-1&sort=type&order=asc')).toEqual([a, c, b, d]); // ties: creation order, asc
    expect(await all('tag=sort-1')).toEqual([d, c, b, a]);
    expect(await all('tag=sort-1&sort=created&order=asc')).toEqual([a, b, c, d]);
    await t.api('POST', `/v1/tasks/${b}/fail`, { lease: made[1]!.lease, error: { code: 'x', message: 'x' } });
    expect(await all('tag=sort-1&sort=status&order=asc')).toEqual([a, c, d, b]);
  });

  it('answers 400 for an unknown sort or order, and for a cursor of another sort', async () => {
    await fixture('sort-2');
    expect((await t.api('GET', '/v1/tasks?sort=doc', undefined, staff)).status).toBe(400);
    expect((await t.api('GET', '/v1/tasks?sort=owner&order=up', undefined, staff)).status).toBe(400);
    const page = await t.api('GET', '/v1/tasks?tag=sort-2&sort=status&limit=1', undefined, staff);
    const other = await t.api('GET', `/v1/tasks?tag=sort-2&sort=owner&limit=1&cursor=${page.body.nextCursor}`, undefined, staff);
    expect(other.status).toBe(400);
    expect(other.body.error.code).toBe('invalid_request');
    const plain = await t.api('GET', '/v1/tasks?tag=sort-2&limit=1', undefined, staff);
    expect((await t.api('GET', `/v1/tasks?tag=sort-2&sort=status&limit=1&cursor=${plain.body.nextCursor}`, undefined, staff)).status).toBe(400);
  });
});

describe('stats history', () => {
  it('groups failures, buckets throughput per minute and gives stage distributions, and keeps them over a restart', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'taskpulse-hist-'));
    const s0 = await buildTestServer({ db: join(dir, 'h.db') }, dir);
    const mk = async () => {
      const r = await s0.api('POST', '/v1/tasks', { type: 'hist', owner: 'h', start: true, stages: [{ key: 'one' }, { key: 'two' }] });
      return { id: r.body.task.id, lease: r.body.lease.token };
    };
    for (let i = 0; i < 3; i++) {
      const x = await mk();
      await s0.api('POST', `/v1/tasks/${x.id}/progress`, { lease: x.lease, stage: 'two' });
      await s0.api('POST', `/v1/tasks/${x.id}/complete`, { lease: x.lease });
    }
    for (let i = 0; i < 2; i++) {
      const x = await mk();
      await s0.api('POST', `/v1/tasks/${x.id}/fail`, { lease: x.lease, error: { code: 'quota', message: 'quota exceeded' } });
    }
    await s0.server.close(); // the file stays for the next one
    // A new process on the same file: the history comes from the store, not from memory.
    const s = await buildTestServer({ db: join(dir, 'h.db') }, dir);
    try {
      const h = await s.api('GET', '/v1/stats/history?type=hist');
      expect(h.status).toBe(200);
      expect(h.body.bucketMs).toBe(60_000);
      const total = (k: string) => h.body.throughput.reduce((a: number, b: any) => a + b[k], 0);
      expect(total('completed')).toBe(3);
      expect(total('failed')).toBe(2);
      expect(h.body.failures).toEqual([expect.objectContaining({ code: 'quota', message: 'quota exceeded', type: 'hist', count: 2 })]);
      const one = h.body.distributions.find((d: any) => d.stage === 'one');
      expect(one).toMatchObject({ type: 'hist', count: 3 });
      expect(one.histogram.reduce((a: number, b: any) => a + b.count, 0)).toBe(3);
      expect((await s.api('GET', '/v1/stats/history?windowMs=5')).status).toBe(400);
      expect((await s.api('GET', '/v1/stats/history?bucketMs=abc')).status).toBe(400);
    } finally {
      await s.close();
    }
  });

  it('summarises browsers\' delivery health', async () => {
    const viewer = await t.viewerToken('browser-user');
    expect((await t.api('POST', '/v1/client-metrics', { liveMs: 9000, pollingMs: 1000, worstStalenessMs: 2500, reconnects: 1 }, viewer)).status).toBe(202);
    expect((await t.api('POST', '/v1/client-metrics', { liveMs: 10_000 }, staff)).status).toBe(202);
    const h = await t.api('GET', '/v1/client-metrics', undefined, staff);
    expect(h.body).toMatchObject({ reports: 2, liveShare: 0.95, pollingShare: 0.05, worstStalenessMs: 2500, reconnects: 1 });
    expect(h.body.perMinute.length).toBeGreaterThan(0);
    expect((await t.api('POST', '/v1/client-metrics', { liveMs: -1 }, staff)).status).toBe(400);
  });
});

describe('the dashboard at /', () => {
  it('answers the app for / and client-side routes, files as they are, and JSON 404s for the API', async () => {
    for (const p of ['/', '/tasks/tsk_123', '/stats?x=1', '/inbox']) {
      const r = await t.api('GET', p, undefined, null);
      expect(r.status, p).toBe(200);
      expect(r.headers.get('content-type'), p).toContain('text/html');
      expect(r.text).toContain('<title>app</title>');
    }
    const asset = await t.api('GET', '/assets/index-AbCdEf12.js', undefined, null);
    expect(asset.headers.get('cache-control')).toContain('immutable');
    // Relative asset paths from a page opened at a client-side route.
    const nested = await t.api('GET', '/tasks/assets/index-AbCdEf12.js', undefined, null);
    expect(nested.status).toBe(200);
    expect(nested.text).toBe('console.log(1)');
    // Browsers ask every page's /favicon.ico: the logo, not a 404 in the console.
    const icon = await t.api('GET', '/favicon.ico', undefined, null);
    expect(icon.status).toBe(200);
    expect(icon.headers.get('content-type')).toContain('image/svg+xml');
    expect(icon.text).toContain('<svg');
    for (const p of ['/v1/nope', '/assets/missing-AbCdEf12.js', '/..%2f..%2fetc%2fpasswd']) {
      const r = await t.api('GET', p, undefined, null);
      expect(r.status, p).toBe(404);
      expect(r.body.error.code).toBe('not_found');
    }
  });

  it('says how to build the dashboard when it is missing', async () => {
    const empty = mkdtempSync(join(tmpdir(), 'taskpulse-nodash-'));
    const s = await buildTestServer({ dashboardDir: empty, dashboardMissingHint: 'npm run build -w @taskpulse/dashboard' });
    try {
      const r = await s.api('GET', '/tasks/x', undefined, null);
      expect(r.status).toBe(503);
      expect(r.text).toContain('npm run build -w @taskpulse/dashboard');
    } finally {
      await s.close();
      rmSync(empty, { recursive: true, force: true });
    }
  });
});
