import { once } from 'node:events';
import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually } from '../../../test-support/eventually.ts';
import { ADMIN, SseReader, resolveDeltas, runningTask, skippingClock, startTestServer, type TestServer } from './support.ts';
import { DEFAULTS, type ServerOptions } from '../src/config.ts';
import { EventsResponse } from '@taskpulse/protocol';

let t: TestServer;
beforeAll(async () => {
  t = await startTestServer({ heartbeatMs: 200 });
});
afterAll(async () => t.close());

const open = (path: string, cred: string | null = ADMIN, headers?: Record<string, string>) => SseReader.open(t.url + path, cred, headers);

describe('/v1/stream', () => {
  it('opens with retry, a snapshot of active tasks, then live events, with stream-friendly headers', async () => {
    const { id, lease } = await runningTask(t, { type: 'snap' });
    const s = await open('/v1/stream?type=snap');
    expect(s.status).toBe(200);
    expect(s.headers!.get('content-type')).toContain('text/event-stream');
    expect(s.headers!.get('x-accel-buffering')).toBe('no');
    expect(s.headers!.get('content-encoding')).toBeNull();
    await s.until((e) => e.some((x) => x.event === 'snapshot'));
    expect(s.retry).toBe(1000);
    const snap = s.events.find((e) => e.event === 'snapshot')!;
    const body = JSON.parse(snap.data);
    expect(body.tasks.map((x: any) => x.id)).toEqual([id]);
    expect(Number(snap.id)).toBe(body.head);
    const r = await t.api('POST', `/v1/tasks/${id}/progress`, { lease, done: 3, total: 4 });
    await s.until((e) => e.some((x) => x.id === String(r.body.seq)));
    const live = s.data().at(-1);
    expect(live).toMatchObject({ seq: r.body.seq, type: 'task.updated', taskId: id, task: { progress: { done: 3, total: 4 } } });
    s.close();
  });

  it('sends named heartbeats carrying the head as id', async () => {
    const head = (await t.api('GET', '/v1/events?limit=1')).body.head;
    const s = await open('/v1/stream?type=none');
    const events = await s.until((e) => e.filter((x) => x.event === 'heartbeat').length >= 2);
    const hb = events.filter((x) => x.event === 'heartbeat').at(-1)!;
    expect(JSON.parse(hb.data).head).toBeGreaterThanOrEqual(head);
    expect(hb.id).toBe(String(JSON.parse(hb.data).head));
    s.close();
  });

  it('honours a per-stream heartbeat interval', async () => {
    const clock = skippingClock();
    const slow = await startTestServer({ heartbeatMs: 60_000, now: clock.now });
    try {
      const s = await SseReader.open(`${slow.url}/v1/stream?heartbeatMs=1000`, ADMIN);
      await s.until((e) => e.some((x) => x.event === 'snapshot'));
      // A second of the stream's clock, twice: a heartbeat each time (the server's 60 s would give none).
      for (const n of [1, 2]) {
        clock.advance(1000);
        await s.until((e) => e.filter((x) => x.event === 'heartbeat').length >= n);
      }
      s.close();
      expect((await SseReader.open(`${slow.url}/v1/stream?heartbeatMs=10`, ADMIN)).status).toBe(400);
    } finally {
      await slow.close();
    }
  });

  it('resumes after Last-Event-ID (which wins over after) with no gap and no repeat', async () => {
    const { id, lease } = await runningTask(t, { type: 'resume' });
    const seqs: number[] = [];
    for (let i = 1; i <= 5; i++) seqs.push((await t.api('POST', `/v1/tasks/${id}/progress`, { lease, done: i, total: 10 })).body.seq);
    const s = await open(`/v1/stream?taskId=${id}&after=0`, ADMIN, { 'last-event-id': String(seqs[1]) });
    await s.until((e) => e.some((x) => x.id === String(seqs[4])));
    expect(s.data().map((e) => e.seq)).toEqual(seqs.slice(2));
    expect(s.events.some((e) => e.event === 'snapshot')).toBe(false);
    s.close();
  });

  it('answers a cursor the log does not have with reset and a snapshot', async () => {
    const s = await open('/v1/stream?after=999999999');
    await s.until((e) => e.some((x) => x.event === 'snapshot'));
    expect(s.events[0]!.event).toBe('reset');
    s.close();
  });

  it('rejects a malformed Last-Event-ID and a bad credential with a non-200 (permanent) answer', async () => {
    expect((await open('/v1/stream', ADMIN, { 'last-event-id': 'abc' })).status).toBe(400);
    expect((await open('/v1/stream', 'not-a-token')).status).toBe(401);
    expect((await open('/v1/stream', null)).status).toBe(401);
  });

  it('accepts ?access_token= for EventSource', async () => {
    const token = await t.viewerToken('eve');
    const s = await open(`/v1/stream?access_token=${token}`, null);
    expect(s.status).toBe(200);
    s.close();
  });

  it('filters by task type, tag, parentId and event types', async () => {
    const parent = (await t.api('POST', '/v1/tasks', { type: 'flt-parent', owner: 'u1' })).body;
    const s1 = await open(`/v1/stream?parentId=${parent.id}&after=0`);
    const s2 = await open('/v1/stream?tag=blue&events=task.created&after=0');
    const child = (await t.api('POST', '/v1/tasks', { type: 'flt-child', owner: 'u1', parentId: parent.id, tags: ['blue'] })).body;
    await s1.until((e) => e.some((x) => x.event === 'task.created'));
    await s2.until((e) => e.some((x) => x.event === 'task.created'));
    expect(s1.data().map((e) => [e.type, e.taskId])).toEqual([['task.created', child.id]]);
    expect(s2.data().every((e) => e.type === 'task.created' && e.task.tags.includes('blue'))).toBe(true);
    s1.close();
    s2.close();
  });

  it('coalesces superseded progress for a lagging reader but keeps milestones and order', async () => {
    const { id, lease } = await runningTask(t, { type: 'coalesce', stages: [{ key: 'a' }, { key: 'b' }] });
    const from = (await t.api('GET', `/v1/tasks/${id}`)).body.seq;
    // Produce the whole burst before the reader connects, so it reads a backlog: it must see
    // the stage change and the completion, in order, and end on the final state.
    for (let i = 1; i <= 50; i++) await t.api('POST', `/v1/tasks/${id}/progress`, { lease, done: i, total: 100 });
    await t.api('POST', `/v1/tasks/${id}/progress`, { lease, stage: 'b', done: 0, total: 10 });
    for (let i = 1; i <= 10; i++) await t.api('POST', `/v1/tasks/${id}/progress`, { lease, done: i, total: 10 });
    await t.api('POST', `/v1/tasks/${id}/complete`, { lease });
    const s = await open(`/v1/stream?taskId=${id}&after=${from}&coalesce=true`);
    await s.until((e) => e.some((x) => x.event === 'task.completed'));
    const seqs = s.data().map((e) => e.seq);
    expect([...seqs].sort((a, b) => a - b)).toEqual(seqs);
    expect(s.data().some((e) => e.type === 'task.updated' && e.task.stage?.key === 'b')).toBe(true);
    s.close();
  });

  it('coalesces a live reader that falls behind instead of closing it; milestones and order kept', async () => {
    const { request } = await import('node:http');
    const srv = await startTestServer({ streamBufferBytes: 1024 * 1024 });
    try {
      const { id, lease } = await runningTask(srv, { stages: [{ key: 'a' }, { key: 'b' }] });
      const head = (await srv.api('GET', `/v1/tasks/${id}`)).body.seq;
      // A reader that stops reading while ~8 MB of progress is produced, then reads again.
      const chunks: Buffer[] = [];
      const res = await new Promise<import('node:http').IncomingMessage>((resolve) => {
        request(`${srv.url}/v1/stream?taskId=${id}&after=${head}&coalesce=true`, { headers: { authorization: `Bearer ${ADMIN}` } }, resolve).end();
      });
      res.pause();
      res.on('data', (c: Buffer) => chunks.push(c));
      const ended = new Promise((r) => res.once('close', r));
      const big = 'z'.repeat(900);
      for (let round = 0; round < 16; round++) {
        const updates = Array.from({ length: 500 }, (_, i) => ({ id, lease, done: round * 500 + i + 1, total: 8000, message: big }));
        if (round === 8) updates[250] = { ...updates[250]!, stage: 'b' } as (typeof updates)[number];
        const r = await srv.api('POST', '/v1/progress', { updates });
        expect(r.status).toBe(200);
      }
      const done = await srv.api('POST', `/v1/tasks/${id}/complete`, { lease, result: { ok: 1 } });
      expect(srv.server.hub.size).toBe(1); // still open: lagging, not closed
      res.resume();
      const text = () => Buffer.concat(chunks).toString();
      await eventually('the task.completed event', () => text().includes('event: task.completed'), 60_000);
      res.destroy();
      await ended;
      const events = text().split('\n\n').filter((b) => b.includes('event: task.')).map((b) => JSON.parse(b.slice(b.indexOf('data: ') + 6)));
      const seqs = events.map((e) => e.seq);
      expect([...seqs].sort((a, b) => a - b)).toEqual(seqs); // in order
      expect(events.length).toBeLessThan(8001); // superseded progress was skipped
      expect(events.some((e) => e.type === 'task.updated' && e.task.stage?.key === 'b' && e.task.stages[0].status === 'completed')).toBe(true);
      expect(events.at(-1)).toMatchObject({ type: 'task.completed', seq: done.body.seq, task: { result: { ok: 1 } } });
    } finally {
      await srv.close();
    }
  });

  it('closes a reader that stops reading once its buffer cap is passed', async () => {
    const small = await startTestServer({ streamBufferBytes: 64 * 1024 });
    try {
      const res = await fetch(`${small.url}/v1/stream?after=0`, { headers: { authorization: `Bearer ${ADMIN}` } });
      // Never read the body: the server must close us rather than buffer without bound.
      const { id, lease } = await runningTask(small);
      const big = 'x'.repeat(900);
      let closed = false;
      const reader = res.body!.getReader();
      // Batches of 25 reports: the same events as one request each, in a tenth of the round trips
      // (3,000 sequential requests outlasted the test's budget on a loaded 2-core machine).
      for (let i = 0; i < 3000 && !closed; i += 25) {
        const updates = Array.from({ length: 25 }, (_, k) => ({ id, lease, done: i + k, total: 3000, message: big }));
        await small.api('POST', '/v1/progress', { updates });
        closed = (small.server.hub.size === 0);
      }
      expect(small.server.hub.size).toBe(0);
      await reader.cancel().catch(() => {});
    } finally {
      await small.close();
    }
  });

  it('reads a backlog larger than the buffer cap at the reader\'s pace instead of closing it', async () => {
    const small = await startTestServer({ streamBufferBytes: 64 * 1024 });
    try {
      const { id, lease } = await runningTask(small);
      const big = 'y'.repeat(900);
      const updates = Array.from({ length: 1500 }, (_, i) => ({ id, lease, done: i + 1, total: 1500, message: `${i} ${big}` }));
      let last = 0;
      for (let i = 0; i < updates.length; i += 500) {
        const r = await small.api('POST', '/v1/progress', { updates: updates.slice(i, i + 500) });
        last = Math.max(last, ...r.body.results.map((x: { seq: number }) => x.seq));
      }
      const s = await SseReader.open(`${small.url}/v1/stream?taskId=${id}&after=0`, ADMIN);
      // A heartbeat at or past the last report: a catch-up heartbeat (slow reader) promises less.
      await s.until((e) => e.some((x) => x.event === 'heartbeat' && Number(x.id) >= last), 30_000);
      // Reports only: on a loaded machine the reader may arrive after the quiet task was flagged
      // `stuck` (3 s without progress), which is one more task.updated of its own.
      const reports = s.data().filter((e) => e.type === 'task.updated' && e.task.health !== 'stuck');
      expect(reports.map((e) => e.task.progress.done)).toEqual(updates.map((u) => u.done));
      s.close();
    } finally {
      await small.close();
    }
  });

  it('delivers from the store when the bus loses messages (a periodic head check fills the gap)', async () => {
    // A bus between instances that drops everything: only the store can tell the hub.
    const deaf = { publish() {}, subscribe: () => () => {}, ping: async () => {}, close: async () => {} };
    const clock = skippingClock();
    const lossy = await startTestServer({ bus: deaf, now: clock.now });
    try {
      const { id, lease } = await runningTask(lossy);
      const s = await SseReader.open(`${lossy.url}/v1/stream?taskId=${id}`, ADMIN);
      await s.until((e) => e.some((x) => x.event === 'snapshot'));
      const r = await lossy.api('POST', `/v1/tasks/${id}/progress`, { lease, done: 1, total: 2 });
      clock.advance(DEFAULTS.streamHeadCheckMs); // the hub's next tick compares the store's head with its own
      await s.until((e) => e.some((x) => x.id === String(r.body.seq)));
      s.close();
    } finally {
      await lossy.close();
    }
  });

  it('closes streams after the maximum lifetime with a retry hint', async () => {
    const clock = skippingClock();
    const short = await startTestServer({ streamMaxMs: 3_600_000, now: clock.now });
    try {
      const s = await SseReader.open(`${short.url}/v1/stream`, ADMIN);
      await s.until((e) => e.some((x) => x.event === 'snapshot'));
      clock.advance(3_600_000);
      await s.untilEnded();
      expect(s.retry).toBe(1000);
    } finally {
      await short.close();
    }
  });

  it('closes streams on shutdown', async () => {
    const s2 = await startTestServer();
    const s = await SseReader.open(`${s2.url}/v1/stream`, ADMIN);
    await s.until((e) => e.some((x) => x.event === 'snapshot'));
    await s2.close();
    await s.untilEnded();
  });

  it('does not wait on shutdown for a connection that never sent a byte (fetch opens spare ones)', async () => {
    // A grace period longer than the test: only cutting the silent socket at once lets close end.
    const s2 = await startTestServer({ closeGraceMs: 3_600_000 } as ServerOptions); // a DEFAULTS tunable
    const { port, hostname } = new URL(s2.url);
    const socket = connect(Number(port), hostname);
    await once(socket, 'connect');
    const cut = once(socket, 'close');
    await s2.close();
    await cut;
  });
});

describe('/v1/stream?delta=true', () => {
  it('sends progress as what changed since the task last sent on this stream; made whole, the same events as a plain stream', async () => {
    const type = 'delta-live';
    const { id, lease } = await runningTask(t, { type, input: { doc: 'i'.repeat(4000) }, stages: [{ key: 'a' }, { key: 'b' }] });
    const plain = await open(`/v1/stream?type=${type}`);
    const delta = await open(`/v1/stream?type=${type}&delta=true`);
    await plain.until((e) => e.some((x) => x.event === 'snapshot'));
    await delta.until((e) => e.some((x) => x.event === 'snapshot'));
    for (let i = 1; i <= 5; i++) await t.api('POST', `/v1/tasks/${id}/progress`, { lease, done: i, total: 10, message: i % 2 ? 'odd' : 'even' });
    await t.api('POST', `/v1/progress`, { updates: [{ id, lease, stage: 'b', done: 0, total: 3 }, { id, lease, done: 1, total: 3, metadata: { k: 1 } }] });
    const done = await t.api('POST', `/v1/tasks/${id}/complete`, { lease, result: { ok: true } });
    expect(done.status).toBe(200);
    const last = String(done.body.seq);
    await plain.until((e) => e.some((x) => x.id === last));
    await delta.until((e) => e.some((x) => x.id === last));
    const deltas = delta.events.filter((x) => x.event === 'task.updated').map((x) => JSON.parse(x.data));
    expect(deltas.filter((e) => e.base !== undefined).length).toBeGreaterThanOrEqual(6);
    for (const e of deltas.filter((x) => x.base !== undefined)) {
      expect(e.task.input).toBeUndefined();
      expect(e.task.stages === undefined || e.task.stage?.key === 'b').toBe(true); // stages only when they changed
    }
    const completed = JSON.parse(delta.events.find((x) => x.event === 'task.completed')!.data);
    expect(completed.base).toBeUndefined(); // terminal events are whole
    expect(completed.task.input.doc).toHaveLength(4000);
    expect(resolveDeltas(delta.events)).toEqual(plain.data());
    const bytes = (s: typeof plain) => s.events.filter((x) => x.event === 'task.updated').reduce((n, x) => n + x.data.length, 0);
    expect(bytes(delta)).toBeLessThan(bytes(plain) / 4);
    plain.close();
    delta.close();
  });

  it('sends the first event of each task on a resumed stream whole, then deltas', async () => {
    const type = 'delta-resume';
    const { id, lease } = await runningTask(t, { type });
    const r1 = await t.api('POST', `/v1/tasks/${id}/progress`, { lease, done: 1, total: 10 });
    const s = await open(`/v1/stream?type=${type}&delta=true&after=${r1.body.seq}`);
    await s.until((e) => e.some((x) => x.event === 'heartbeat'));
    const r2 = await t.api('POST', `/v1/tasks/${id}/progress`, { lease, done: 2, total: 10 });
    const r3 = await t.api('POST', `/v1/tasks/${id}/progress`, { lease, done: 3, total: 10 });
    await s.until((e) => e.some((x) => x.id === String(r3.body.seq)));
    const [first, second] = s.data().filter((e) => e.type === 'task.updated');
    expect(first).toMatchObject({ seq: r2.body.seq, task: { id, type, owner: 'u1', progress: { done: 2 } } });
    expect(first.base).toBeUndefined();
    expect(second).toMatchObject({ seq: r3.body.seq, base: r2.body.seq, task: { id, seq: r3.body.seq, progress: { done: 3 } } });
    expect(second.task.type).toBeUndefined();
    s.close();
  });

  it('sends a lagging coalescing reader whole events (what it skipped cannot be a base), deltas again once it keeps up', async () => {
    const { request } = await import('node:http');
    const srv = await startTestServer({ streamBufferBytes: 1024 * 1024 });
    try {
      const { id, lease } = await runningTask(srv, { input: { doc: 'i'.repeat(2000) } });
      const chunks: Buffer[] = [];
      const res = await new Promise<import('node:http').IncomingMessage>((resolve) => {
        request(`${srv.url}/v1/stream?taskId=${id}&coalesce=true&delta=true`, { headers: { authorization: `Bearer ${ADMIN}` } }, resolve).end();
      });
      res.on('data', (c: Buffer) => chunks.push(c));
      const text = () => Buffer.concat(chunks).toString();
      await eventually('the snapshot', () => text().includes('event: snapshot'));
      res.pause(); // stops reading while ~4 MB of progress is produced
      const big = 'z'.repeat(900);
      for (let round = 0; round < 8; round++) {
        const updates = Array.from({ length: 500 }, (_, i) => ({ id, lease, done: round * 500 + i + 1, total: 8000, message: big + (i % 7) }));
        expect((await srv.api('POST', '/v1/progress', { updates })).status).toBe(200);
      }
      res.resume();
      const tail = await srv.api('POST', `/v1/tasks/${id}/progress`, { lease, done: 7999, total: 8000 });
      await eventually('the last report', () => text().includes(`id: ${tail.body.seq}\n`), 60_000);
      const after = await srv.api('POST', `/v1/tasks/${id}/progress`, { lease, done: 8000, total: 8000 });
      await eventually('a report after it', () => text().includes(`id: ${after.body.seq}\n`), 60_000);
      res.destroy();
      const blocks = text().split('\n\n').filter((b) => b.includes('data: ')).map((b) => ({ event: /event: (\S+)/.exec(b)![1]!, data: b.slice(b.indexOf('data: ') + 6) }));
      const events = resolveDeltas(blocks); // asserts every delta's base is the task the stream last sent
      expect(events.length).toBeLessThan(4002); // superseded progress was skipped
      expect(events.at(-1)).toMatchObject({ seq: after.body.seq, task: { progress: { done: 8000 }, input: { doc: 'i'.repeat(2000) } } });
      expect(JSON.parse(blocks.at(-1)!.data).base).toBe(tail.body.seq); // live and in step again: a delta
    } finally {
      await srv.close();
    }
  });

  it('answers a bad delta value with 400', async () => {
    const r = await fetch(`${t.url}/v1/stream?delta=yes`, { headers: { authorization: `Bearer ${ADMIN}` } });
    expect(r.status).toBe(400);
    expect((await r.json()).error.code).toBe('invalid_request');
  });
});

describe('/v1/events', () => {
  it('pages with the same cursor as the stream and reports head', async () => {
    const { id, lease } = await runningTask(t, { type: 'poll' });
    const start = (await t.api('GET', `/v1/tasks/${id}`)).body.seq;
    for (let i = 1; i <= 5; i++) await t.api('POST', `/v1/tasks/${id}/progress`, { lease, done: i, total: 5 });
    const p1 = await t.api('GET', `/v1/events?taskId=${id}&after=${start}&limit=2`);
    expect(p1.body.events).toHaveLength(2);
    expect(p1.body.head).toBe(p1.body.events[1].seq);
    const p2 = await t.api('GET', `/v1/events?taskId=${id}&after=${p1.body.head}&limit=10`);
    expect(p2.body.events.map((e: any) => e.task.progress.done)).toEqual([3, 4, 5]);
    const p3 = await t.api('GET', `/v1/events?taskId=${id}&after=${p2.body.head}`);
    expect(p3.body.events).toEqual([]);
    expect(p3.body.head).toBeGreaterThanOrEqual(p2.body.head);
  });

  it('long-polls with waitMs and answers as soon as an event arrives', async () => {
    const { id, lease } = await runningTask(t, { type: 'longpoll' });
    const head = (await t.api('GET', `/v1/events?taskId=${id}&after=0`)).body.head;
    const waiting = t.api('GET', `/v1/events?taskId=${id}&after=${head}&waitMs=10000`);
    await t.api('POST', `/v1/tasks/${id}/progress`, { lease, done: 1, total: 2 });
    const r = await waiting;
    expect(r.body.events).toHaveLength(1);
    expect(r.body.events[0].task.progress.done).toBe(1);
  });

  it('answers with the stored wire JSON: the bytes serializing the parsed events would make, as JSON, per the schema', async () => {
    const { id, lease } = await runningTask(t, { type: 'raw-page', tags: ['é', '"q"'] });
    for (let i = 1; i <= 3; i++) await t.api('POST', `/v1/tasks/${id}/progress`, { lease, done: i, total: 3, message: `ünïcode \u2028 "${i}"` });
    const res = await fetch(`${t.url}/v1/events?taskId=${id}&after=0&limit=2`, { headers: { authorization: `Bearer ${ADMIN}` } });
    expect(res.headers.get('content-type')).toBe('application/json; charset=utf-8');
    expect(res.headers.get('cache-control')).toBe('no-store');
    const text = await res.text();
    const body = JSON.parse(text);
    expect(text).toBe(JSON.stringify(body));
    expect(EventsResponse.safeParse(body).success).toBe(true);
    expect(body.events).toHaveLength(2);
    expect(body.head).toBe(body.events[1].seq);
  });

  it('answers a cursor beyond the head with reset and a snapshot', async () => {
    const r = await t.api('GET', '/v1/events?after=999999999');
    expect(r.body).toMatchObject({ events: [], reset: true });
    expect(Array.isArray(r.body.tasks)).toBe(true);
  });
});
