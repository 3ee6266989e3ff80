// Catch-up of resuming streams (issue 8, item 7): paced and shared reads must still deliver every
// event once and in order, and readers that stop reading are closed — while catching up, and
// coalescing ones too. (The storm's cost to other requests is a benchmark: bench/resume-storm.mjs.)
import { request, type IncomingMessage } from 'node:http';
import { describe, expect, it } from 'vitest';
import { eventually } from '../../../test-support/eventually.ts';
import { ADMIN, SseReader, runningTask, skippingClock, startTestServer, type SseEvent, type TestServer } from './support.ts';

/** A stream whose reader takes the headers and then stops reading. */
async function stalledReader(t: TestServer, path: string): Promise<IncomingMessage> {
  const res = await new Promise<IncomingMessage>((resolve, reject) => {
    request(`${t.url}${path}`, { headers: { authorization: `Bearer ${ADMIN}` } }, resolve).on('error', reject).end();
  });
  expect(res.statusCode).toBe(200);
  res.pause();
  return res;
}

/**
 * Waits (by polling the hub, not by a fixed sleep) until the server has no open stream; `skip`
 * (time skipped on the server's clock) runs before each look.
 */
async function untilNoStream(t: TestServer, skip = () => {}): Promise<void> {
  await eventually('no open stream', () => {
    skip();
    return t.server.hub.size === 0;
  }, 60_000);
}

/**
 * The stall rule runs on the server's clock: with a stall time no test lasts, a reader is
 * declared stalled only when the test skips that time, never because a loaded machine was slow.
 */
const STALL_MS = 3_600_000;

/**
 * `rounds` × 60 progress reports of ~15 KB each (changed metadata: live frames carry only what
 * changed) on one task: after 12 rounds, a backlog bigger than the socket buffers hold.
 */
async function bigBacklog(t: TestServer, id: string, lease: string, rounds: number, first = 0): Promise<number> {
  const big = 'x'.repeat(15_000);
  let last = 0;
  for (let round = first; round < first + rounds; round++) {
    const updates = Array.from({ length: 60 }, (_, i) => ({ id, lease, done: round * 60 + i + 1, total: 1_000_000, metadata: { blob: `${round * 60 + i} ${big}` } }));
    const r = await t.api('POST', '/v1/progress', { updates });
    expect(r.status).toBe(200);
    last = Math.max(...r.body.results.map((x: { seq: number }) => x.seq));
  }
  return last;
}

describe('stream catch-up', () => {
  it('closes a stream whose reader stops reading while it catches up', async () => {
    const clock = skippingClock();
    const t = await startTestServer({ streamStallMs: STALL_MS, heartbeatMs: 100, now: clock.now });
    try {
      const { id, lease } = await runningTask(t);
      const from = (await t.api('GET', `/v1/tasks/${id}`)).body.seq;
      const last = await bigBacklog(t, id, lease, 12); // ~11 MB
      const res = await stalledReader(t, `/v1/stream?after=${from}`);
      // Catch-up waits for the socket to drain, so the buffer cap is never reached: only the
      // stall rule can end this stream (a reader still taking bytes restarts its stall time).
      await untilNoStream(t, () => clock.advance(STALL_MS));
      // What did arrive is an in-order prefix that stops short of the backlog's end.
      res.resume();
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      await new Promise((r) => res.once('close', r));
      const seqs = [...Buffer.concat(chunks).toString().matchAll(/^id: (\d+)\nevent: task\./gm)].map((m) => Number(m[1]));
      expect(seqs.length).toBeGreaterThan(0);
      expect(seqs).toEqual(seqs.map((_, i) => seqs[0]! + i));
      expect(seqs.at(-1)!).toBeLessThan(last);
    } finally {
      await t.close();
    }
  });

  it('heartbeats a stream paused in catch-up, promising only what it has written', async () => {
    const t = await startTestServer({ heartbeatMs: 100 });
    try {
      const { id, lease } = await runningTask(t);
      const from = (await t.api('GET', `/v1/tasks/${id}`)).body.seq;
      const last = await bigBacklog(t, id, lease, 12);
      const res = await stalledReader(t, `/v1/stream?after=${from}`);
      // The socket fills and catch-up waits for it: the server must heartbeat the stream there.
      const before = t.server.hub.catchUpHeartbeats;
      await eventually('two catch-up heartbeats', () => t.server.hub.catchUpHeartbeats >= before + 2, 60_000);
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.resume();
      const text = () => Buffer.concat(chunks).toString();
      await eventually(`the backlog's last event (${last})`, () => text().includes(`id: ${last}\n`), 60_000);
      res.destroy();
      let lastEvent = from;
      let inCatchUp = 0;
      for (const frame of text().split('\n\n')) {
        const hb = /^event: heartbeat\nid: (\d+)\ndata: (.*)$/.exec(frame);
        if (hb) {
          const { head, last: lastSent } = JSON.parse(hb[2]!);
          expect(head).toBe(Number(hb[1]));
          if (head < last) {
            // A catch-up heartbeat: exactly what was written, no more.
            expect(head).toBe(lastEvent);
            expect(lastSent).toBe(lastEvent === from ? 0 : lastEvent); // 0: none written yet
            inCatchUp++;
          } else expect(head).toBeGreaterThanOrEqual(lastEvent);
          continue;
        }
        const ev = /^id: (\d+)\nevent: task\./.exec(frame);
        if (ev) {
          expect(Number(ev[1])).toBe(lastEvent + 1); // no gap, no repeat around the heartbeats
          lastEvent = Number(ev[1]);
        }
      }
      expect(lastEvent).toBeGreaterThanOrEqual(last);
      expect(inCatchUp).toBeGreaterThan(0);
    } finally {
      await t.close();
    }
  });

  it('closes a coalescing stream whose reader stops reading', async () => {
    const clock = skippingClock();
    // The task reports between the skips, so its lease must outlast one: the skip is shorter here
    // (still longer than any test) and the lease longer (leases run on the same clock).
    const stallMs = 600_000;
    const t = await startTestServer({ streamStallMs: stallMs, heartbeatMs: 100, now: clock.now });
    try {
      const { id, lease } = await runningTask(t, { leaseMs: 3_600_000 });
      const head = (await t.api('GET', `/v1/tasks/${id}`)).body.seq;
      await stalledReader(t, `/v1/stream?taskId=${id}&after=${head}&coalesce=true`);
      // Live progress of one task: once the socket is full, each report replaces the pending one,
      // so the buffer cap is never reached either.
      for (let round = 0; t.server.hub.size > 0; round++) {
        await bigBacklog(t, id, lease, 1, round);
        clock.advance(stallMs);
      }
      await untilNoStream(t, () => clock.advance(stallMs));
    } finally {
      await t.close();
    }
  });

  it('delivers every event once and in order to many resuming readers (same, nearby and filtered cursors) while writes go on', async () => {
    const t = await startTestServer({ heartbeatMs: 100 });
    try {
      const a = await runningTask(t, { type: 'storm_a' });
      const b = await runningTask(t, { type: 'storm_b' });
      const base = (await t.api('GET', `/v1/tasks/${b.id}`)).body.seq;
      // 3,000 events, two types interleaved in runs (so a filtered page can lie wholly below a cursor).
      for (let round = 0; round < 6; round++) {
        const updates = Array.from({ length: 500 }, (_, i) => {
          const task = Math.floor(i / 150) % 2 === 0 ? a : b;
          return { id: task.id, lease: task.lease, done: round * 500 + i + 1, total: 10_000, message: `r${round} ${i}` };
        });
        expect((await t.api('POST', '/v1/progress', { updates })).status).toBe(200);
      }
      const cursors = [base, base, base, base, base + 1, base + 2, base + 3, base + 499, base + 501, base + 1777];
      const all = await Promise.all(cursors.map((c) => SseReader.open(`${t.url}/v1/stream?after=${c}`, ADMIN)));
      const typed = await Promise.all(
        [base, base + 333, base + 1234].map((c) => SseReader.open(`${t.url}/v1/stream?after=${c}&type=storm_a`, ADMIN)),
      );
      // More events while they catch up.
      let last = 0;
      for (let i = 0; i < 10; i++) {
        const task = i % 2 === 0 ? a : b;
        const updates = Array.from({ length: 20 }, (_, k) => ({ id: task.id, lease: task.lease, done: 4000 + i * 20 + k, total: 10_000 }));
        const r = await t.api('POST', '/v1/progress', { updates });
        last = Math.max(...r.body.results.map((x: { seq: number }) => x.seq));
      }
      const lastA = (await t.api('GET', `/v1/tasks/${a.id}`)).body.seq;
      const seqsOf = (events: SseEvent[]) => events.filter((e) => e.event.startsWith('task.')).map((e) => Number(e.id));

      for (const [i, s] of all.entries()) {
        await s.until((ev) => seqsOf(ev).at(-1)! >= last, 25_000);
        // Every seq after the cursor, once, in order (the health check may add a `stuck` update
        // of a quiet task after `last`: those must be contiguous too).
        const seqs = seqsOf(s.events);
        expect(seqs).toEqual(Array.from({ length: seqs.at(-1)! - cursors[i]! }, (_, k) => cursors[i]! + 1 + k));
        checkHeartbeats(s.events);
        s.close();
      }
      for (const [i, s] of typed.entries()) {
        const after = [base, base + 333, base + 1234][i]!;
        await s.until((ev) => seqsOf(ev).at(-1)! >= lastA, 25_000);
        const want: number[] = [];
        for (let c = after; ; ) {
          const page = (await t.api('GET', `/v1/events?after=${c}&type=storm_a&limit=500`)).body;
          want.push(...page.events.map((e: { seq: number }) => e.seq));
          if (page.events.length < 500) break;
          c = page.head;
        }
        expect(seqsOf(s.events).filter((q) => q <= lastA)).toEqual(want.filter((q) => q <= lastA));
        checkHeartbeats(s.events);
        s.close();
      }
    } finally {
      await t.close();
    }
  });
});

/** A heartbeat promises every matching event up to its head is already written: none may follow it. */
function checkHeartbeats(events: SseEvent[]): void {
  let promised = 0;
  for (const e of events) {
    if (e.event === 'heartbeat') promised = Math.max(promised, Number(e.id));
    else if (e.event.startsWith('task.')) expect(Number(e.id)).toBeGreaterThan(promised);
  }
}
