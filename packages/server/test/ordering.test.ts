/**
 * Ordering under load: concurrent writers, and readers of /v1/stream and /v1/events that
 * disconnect and resume at random. Every reader must see every event it may see exactly once,
 * in seq order, with no gap; every seq acknowledged to a worker must be in the log.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { ADMIN, SseReader, startTestServer, type TestServer } from './support.ts';

let t: TestServer;
beforeAll(async () => {
  t = await startTestServer({ heartbeatMs: 100 });
});
afterAll(async () => t.close());

const OWNERS = ['ann', 'ben', 'cat'];
const WRITERS = 12;
const REPORTS = 40;

function rand(n: number): number {
  return Math.floor(Math.random() * n);
}

/** An SSE reader that drops its connection at random and resumes from its cursor. */
async function sseReader(url: string, credential: string, stop: () => boolean): Promise<number[]> {
  const seen: number[] = [];
  let cursor = 0;
  let first = true;
  while (!stop() || first) {
    const s = await SseReader.open(`${url}/v1/stream?${first ? 'after=0' : ''}`, credential, first ? {} : { 'last-event-id': String(cursor) });
    first = false;
    const lifetime = 20 + rand(150);
    const until = Date.now() + lifetime;
    let consumed = 0;
    while (Date.now() < until && !s.ended) {
      await s.until((e) => e.length > consumed || Date.now() >= until, lifetime + 1000).catch(() => {});
      for (; consumed < s.events.length; consumed++) {
        const e = s.events[consumed]!;
        if (e.event.startsWith('task.') || e.event.startsWith('notification.')) seen.push(Number(e.id));
        if (e.id !== null) cursor = Number(e.id);
      }
    }
    s.close();
  }
  return seen.concat(await drainSse(url, credential, cursor));
}

/** Reads until a heartbeat shows the reader has everything up to the final head. */
async function drainSse(url: string, credential: string, cursor: number): Promise<number[]> {
  const head = (await t.api('GET', '/v1/events?limit=1&after=999999999')).body.head;
  const s = await SseReader.open(`${url}/v1/stream`, credential, { 'last-event-id': String(cursor) });
  await s.until((e) => e.some((x) => x.event === 'heartbeat' && Number(x.id) >= head));
  s.close();
  const out: number[] = [];
  for (const e of s.events) {
    if (e.event === 'heartbeat') break;
    if (e.event.startsWith('task.') || e.event.startsWith('notification.')) out.push(Number(e.id));
  }
  return out;
}

async function pollReader(credential: string, stop: () => boolean): Promise<number[]> {
  const seen: number[] = [];
  let cursor = 0;
  for (;;) {
    const stopping = stop();
    const r = await t.api('GET', `/v1/events?after=${cursor}&limit=${1 + rand(50)}&waitMs=${rand(2) * 50}`, undefined, credential);
    expect(r.status).toBe(200);
    expect(r.body.reset).toBeUndefined();
    for (const e of r.body.events) seen.push(e.seq);
    cursor = r.body.head;
    if (stopping && r.body.events.length === 0) {
      const head = (await t.api('GET', '/v1/events?limit=1&after=999999999')).body.head;
      if (cursor >= head) return seen;
    }
  }
}

it('every reader sees every visible event once, in order, with no gap, under concurrent writers', async () => {
  const viewers = await Promise.all(OWNERS.map((o) => t.viewerToken(o)));
  let writing = true;
  const stop = () => !writing;
  const readers = [
    sseReader(t.url, ADMIN, stop), sseReader(t.url, ADMIN, stop), ...viewers.map((v) => sseReader(t.url, v, stop)),
    pollReader(ADMIN, stop), pollReader(ADMIN, stop), ...viewers.map((v) => pollReader(v, stop)),
  ];

  const acked: number[] = [];
  const writers = Array.from({ length: WRITERS }, async (_, w) => {
    const owner = OWNERS[w % OWNERS.length]!;
    const c = await t.api('POST', '/v1/tasks', { type: 'order', owner, start: true });
    expect(c.status).toBe(201);
    const { task, lease } = c.body;
    acked.push(task.seq);
    for (let i = 1; i <= REPORTS; i++) {
      if (i % 10 === 0) {
        const r = await t.api('POST', '/v1/progress', { updates: [{ id: task.id, lease: lease.token, done: i, total: REPORTS, log: `step ${i}` }] });
        expect(r.body.results[0].ok).toBe(true);
        acked.push(r.body.results[0].seq);
      } else {
        const r = await t.api('POST', `/v1/tasks/${task.id}/progress`, { lease: lease.token, done: i, total: REPORTS });
        expect(r.status).toBe(200);
        acked.push(r.body.seq);
      }
    }
    const done = await t.api('POST', `/v1/tasks/${task.id}/complete`, { lease: lease.token, result: { w } });
    acked.push(done.body.seq);
  });
  await Promise.all(writers);
  writing = false;
  const results = await Promise.all(readers);

  // The whole log, read by an admin in pages.
  const log: { seq: number; owner: string }[] = [];
  const ownerOf = new Map<string, string>();
  let cursor = 0;
  for (;;) {
    const r = await t.api('GET', `/v1/events?after=${cursor}&limit=1000`);
    for (const e of r.body.events) {
      if (e.task) ownerOf.set(e.task.id, e.task.owner);
      log.push({ seq: e.seq, owner: e.notification?.owner ?? ownerOf.get(e.taskId) ?? '?' });
    }
    if (r.body.events.length === 0) break;
    cursor = r.body.head;
  }
  const all = log.map((e) => e.seq);
  expect(all).toEqual(Array.from({ length: all.length }, (_, i) => i + 1)); // dense, ordered, no gap
  expect(all.length).toBeGreaterThanOrEqual(WRITERS * (REPORTS + 2));
  const inLog = new Set(all);
  expect(acked.filter((s) => !inLog.has(s))).toEqual([]);

  const expected = [all, all, ...OWNERS.map((o) => log.filter((e) => e.owner === o).map((e) => e.seq))];
  const both = [...expected, all, all, ...expected.slice(2)];
  results.forEach((seen, i) => {
    expect(seen, `reader ${i}`).toEqual(both[i]);
  });
}, 120_000);
