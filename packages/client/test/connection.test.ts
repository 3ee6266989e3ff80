/**
 * The connection manager with fake time and an in-memory server: transitions with their reasons,
 * the watchdog, catch-up reads, backoff, polling intervals, offline and hidden handling.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { TaskEvent } from '@taskpulse/protocol';
import { FakeServer } from './support/fake-server.ts';
import { flush, setup, until } from './support/harness.ts';

beforeEach(() => {
  vi.useFakeTimers({ now: new Date('2026-11-23T12:00:00.000Z') });
});
afterEach(() => {
  vi.useRealTimers();
});

function seqsSeen(client: ReturnType<typeof setup>['client']): number[] {
  const seqs: number[] = [];
  client.onEvent((e: TaskEvent) => seqs.push(e.seq));
  return seqs;
}

describe('connection', () => {
  it('bootstraps from the snapshot, then streams from its head: connecting → live', async () => {
    const server = new FakeServer();
    server.update('t1', { progress: { done: 10, total: 100, percent: 10 } });
    const { client, changes } = setup({}, server);
    const view = client.watchTask('t1');
    await until(() => client.connection.state === 'live');
    expect(changes).toEqual([{ previous: 'connecting', current: 'live', reason: 'stream_open' }]);
    const stream = server.requests.find((r) => r.path === '/v1/stream')!;
    expect(stream.query.get('after')).toBe('1');
    expect(stream.token).toBe('good');
    expect(view.getSnapshot().task?.progress.percent).toBe(10);
    server.update('t1', { progress: { done: 50, total: 100, percent: 50 } });
    await flush();
    expect(view.getSnapshot().task?.progress.percent).toBe(50);
    await client.close();
  });

  it('watchdog: a stream that goes silent for 2 × heartbeat → polling, and updates keep arriving', async () => {
    const { client, server, changes } = setup();
    await until(() => client.connection.state === 'live');
    server.streamSilent = true;
    server.update('t1', { progress: { done: 5, total: 10, percent: 50 } });
    const waited = await until(() => client.connection.state === 'polling');
    expect(waited).toBeGreaterThanOrEqual(1900);
    expect(waited).toBeLessThanOrEqual(2100);
    expect(changes.at(-1)).toEqual({ previous: 'live', current: 'polling', reason: 'watchdog' });
    await until(() => client.diagnostics().cursor === server.head);
    expect(client.watchTask('t1').getSnapshot().task?.progress.percent).toBe(50);
    server.update('t1', { progress: { done: 6, total: 10, percent: 60 } });
    await until(() => client.diagnostics().cursor === server.head, 5000);
    await client.close();
  });

  it("learns the server's heartbeat: a faster one shortens the watchdog to 2 × the measured interval", async () => {
    const { client, server } = setup({ heartbeatMs: 5000 });
    await until(() => client.connection.state === 'live');
    for (let i = 0; i < 4; i++) {
      server.heartbeat();
      await vi.advanceTimersByTimeAsync(500);
    }
    expect(client.diagnostics().heartbeatMs).toBe(500);
    server.streamSilent = true;
    const waited = await until(() => client.connection.state === 'polling');
    expect(waited).toBeLessThanOrEqual(1000);
    await client.close();
  });

  it('watchdog also covers a stream whose answer never comes', async () => {
    const server = new FakeServer();
    server.streamHangs = true;
    const { client } = setup({}, server);
    await until(() => client.connection.state === 'polling');
    expect(client.connection.reason).toBe('watchdog');
    await client.close();
  });

  it('headers without bytes are not live (a buffering proxy passes headers and holds the body)', async () => {
    const server = new FakeServer();
    server.streamSilent = true;
    const { client, changes } = setup({}, server);
    await until(() => client.connection.state === 'polling');
    await vi.advanceTimersByTimeAsync(60_000);
    expect(changes.map((c) => c.current)).toEqual(['polling']);
    await client.close();
  });

  it('returns to live as soon as the stream works again', async () => {
    const { client, server, changes } = setup();
    await until(() => client.connection.state === 'live');
    server.streamSilent = true;
    await until(() => client.connection.state === 'polling');
    server.streamSilent = false;
    server.heartbeat();
    await until(() => client.connection.state === 'live', 40_000);
    expect(changes.map((c) => c.current)).toEqual(['live', 'polling', 'live']);
    await client.close();
  });

  it('a heartbeat beyond the cursor with no event → an immediate catch-up read repairs the gap', async () => {
    const { client, server } = setup();
    const seqs = seqsSeen(client);
    await until(() => client.connection.state === 'live');
    server.streamDrops.add(server.head + 1);
    server.update('t1', {});
    await flush();
    expect(seqs).toEqual([]);
    const before = server.count('/v1/events');
    server.heartbeat();
    await flush();
    expect(server.count('/v1/events')).toBe(before + 1);
    expect(seqs).toEqual([server.head]);
    expect(client.diagnostics().gapsRepaired).toBe(1);
    expect(client.connection.state).toBe('live');
    await client.close();
  });

  it('stream events arriving during a catch-up read wait for it, so the cursor never skips the missing ones', async () => {
    const { client, server } = setup();
    const seqs = seqsSeen(client);
    await until(() => client.connection.state === 'live');
    server.streamDrops.add(server.head + 1);
    server.update('t1', { message: 'lost on the stream' });
    let open!: () => void;
    server.eventsGate = new Promise<void>((r) => (open = r));
    server.heartbeat(); // head 1 > cursor 0 → catch-up read, held at the gate
    await flush();
    server.update('t1', { message: 'arrives on the stream during the read' });
    await flush();
    expect(seqs).toEqual([]);
    server.eventsGate = null;
    open();
    await flush();
    expect(seqs).toEqual([1, 2]);
    await client.close();
  });

  it('heads moved only by other owners’ events cost at most one catch-up read per safety interval', async () => {
    const { client, server } = setup();
    await until(() => client.connection.state === 'live');
    const before = server.count('/v1/events');
    for (let i = 0; i < 25; i++) {
      server.foreignEvent();
      server.heartbeat();
      await vi.advanceTimersByTimeAsync(1000);
    }
    // 25 s: one catch-up (found nothing), then the head is trusted; no periodic poll yet.
    expect(server.count('/v1/events') - before).toBe(1);
    expect(client.diagnostics().cursor).toBe(server.head);
    await client.close();
  });

  it('with `last` in heartbeats, other owners’ events cost no read and a lost event of mine one', async () => {
    const { client, server } = setup();
    const seqs = seqsSeen(client);
    await until(() => client.connection.state === 'live');
    const before = server.count('/v1/events');
    for (let i = 0; i < 25; i++) {
      server.foreignEvent();
      server.heartbeatWithLast();
      await vi.advanceTimersByTimeAsync(1000);
    }
    expect(server.count('/v1/events') - before).toBe(0);
    expect(client.diagnostics().cursor).toBe(server.head);
    server.streamDrops.add(server.head + 1);
    server.update('t1', { message: 'lost on the stream' });
    await flush();
    server.heartbeatWithLast();
    await flush();
    expect(server.count('/v1/events') - before).toBe(1);
    expect(seqs).toEqual([server.head]);
    await client.close();
  });

  it('a stale stream changes nothing: a late answer to a stream already replaced is dropped unread', async () => {
    const server = new FakeServer();
    server.update('t1', {});
    let release!: () => void;
    const late = new Promise<void>((r) => (release = r));
    let streams = 0;
    const fetch = async (input: string, init: RequestInit = {}): Promise<Response> => {
      if (new URL(input).pathname !== '/v1/stream' || ++streams > 1) return server.fetch(input, init);
      // The first stream's answer comes late and ignores the abort (a slow proxy): by then the
      // watchdog has replaced it. Read, its old snapshot would move the cursor back and its end
      // would fail the current stream.
      await late;
      const body = new ReadableStream<Uint8Array>({
        start(controller) {
          controller.enqueue(new TextEncoder().encode('retry: 1000\n\nevent: snapshot\nid: 0\ndata: {"head":0,"tasks":[]}\n\n'));
          controller.close();
        },
      });
      return new Response(body, { status: 200, headers: { 'content-type': 'text/event-stream' } });
    };
    const { client, changes } = setup({ fetch }, server);
    const seqs = seqsSeen(client);
    const view = client.watchTask('t1');
    await until(() => client.connection.state === 'live' && streams === 2);
    server.update('t1', { message: 'second' });
    await flush();
    const changesBefore = changes.length;
    release();
    await flush();
    server.update('t1', { message: 'third' });
    await until(() => client.diagnostics().cursor === 3);
    await flush();
    expect(client.connection.state).toBe('live');
    expect(changes).toHaveLength(changesBefore);
    expect(seqs).toEqual([2, 3]);
    expect(client.diagnostics().cursor).toBe(3);
    expect(view.getSnapshot().task?.message).toBe('third');
    expect(server.openStreams).toBe(1);
    await client.close();
  });

  it('a dropped stream resumes from the cursor with backoff: no gap, no duplicate', async () => {
    const { client, server } = setup({ transport: 'sse' });
    const seqs = seqsSeen(client);
    await until(() => client.connection.state === 'live');
    server.update('a', {});
    await flush();
    server.dropStreams();
    server.update('a', { message: 'while disconnected' });
    await until(() => client.connection.state === 'connecting');
    expect(client.connection.reason).toBe('stream_ended');
    server.update('b', {});
    await until(() => client.connection.state === 'live');
    server.update('a', { status: 'completed' });
    await flush();
    expect(seqs).toEqual([1, 2, 3, 4]);
    const resumed = server.requests.filter((r) => r.path === '/v1/stream').at(-1)!;
    expect(resumed.query.get('after')).toBe('1');
    await client.close();
  });

  it('retries the stream forever, each delay within the full-jitter cap', async () => {
    const server = new FakeServer();
    const { client } = setup({ transport: 'sse', environment: { random: () => 0.999 } }, server);
    await until(() => client.connection.state === 'live');
    server.down = true;
    server.dropStreams();
    const from = server.requests.length;
    await vi.advanceTimersByTimeAsync(10 * 60_000);
    const times = server.requests.slice(from).filter((r) => r.path === '/v1/stream').map((r) => r.at);
    expect(times.length).toBeGreaterThan(20);
    const gaps = times.slice(1).map((t, i) => t - times[i]!);
    // random() = 0.999: each delay is just under its ceiling min(30 s, 1 s · 2^n).
    expect(gaps.slice(0, 4).map((g) => Math.round(g / 100) * 100)).toEqual([2000, 4000, 8000, 16_000]);
    for (const g of gaps) expect(g).toBeLessThanOrEqual(30_000);
    expect(gaps.at(-1)).toBeGreaterThan(29_000);
    expect(client.diagnostics().reconnectAttempts).toBeGreaterThan(20);
    server.down = false;
    await until(() => client.connection.state === 'live', 31_000);
    await client.close();
  });

  it('offline: pauses all requests; back online: catches up and reconnects at once', async () => {
    const { client, server, host, changes } = setup();
    await until(() => client.connection.state === 'live');
    host.setOnline(false);
    expect(changes.at(-1)).toEqual({ previous: 'live', current: 'offline', reason: 'offline' });
    const before = server.requests.length;
    server.update('t1', {});
    await vi.advanceTimersByTimeAsync(5 * 60_000);
    expect(server.requests.length).toBe(before);
    host.setOnline(true);
    await flush();
    expect(client.connection.state).toBe('live');
    expect(client.diagnostics().cursor).toBe(server.head);
    expect(changes.slice(-2).map((c) => `${c.current}:${c.reason}`)).toEqual(['connecting:online', 'live:stream_open']);
    await client.close();
  });

  it('healthy: at most one poll per 30 s while live', async () => {
    const { client, server } = setup();
    server.update('t1', {});
    await until(() => client.connection.state === 'live');
    const before = server.count('/v1/events');
    for (let i = 0; i < 300; i++) {
      server.heartbeat();
      await vi.advanceTimersByTimeAsync(1000);
    }
    const polls = server.count('/v1/events') - before;
    expect(polls).toBeLessThanOrEqual(10);
    expect(polls).toBeGreaterThanOrEqual(9);
    await client.close();
  });

  it('degraded polling is fast; a hidden tab polls slower and catches up at once when visible', async () => {
    const server = new FakeServer();
    server.update('t1', {});
    server.streamStatus = 503;
    const { client, host } = setup({}, server);
    await until(() => client.connection.state === 'polling');
    expect(client.diagnostics().pollIntervalMs).toBe(1000);
    host.setHidden(true);
    expect(client.diagnostics().pollIntervalMs).toBe(4000);
    const before = server.count('/v1/events');
    await vi.advanceTimersByTimeAsync(3000);
    expect(server.count('/v1/events')).toBeLessThanOrEqual(before + 1);
    const hiddenCount = server.count('/v1/events');
    host.setHidden(false);
    await flush();
    expect(server.count('/v1/events')).toBe(hiddenCount + 1);
    await client.close();
  });

  it('a 429 from /v1/events is respected: no poll before its Retry-After', async () => {
    const server = new FakeServer();
    server.update('t1', {});
    const { client } = setup({ transport: 'polling' }, server);
    await until(() => client.connection.state === 'polling');
    server.eventsRateLimited = 1;
    client.connection.catchUp();
    await flush();
    const after429 = server.count('/v1/events');
    await vi.advanceTimersByTimeAsync(6900);
    expect(server.count('/v1/events')).toBe(after429);
    await vi.advanceTimersByTimeAsync(200);
    expect(server.count('/v1/events')).toBe(after429 + 1);
    await client.close();
  });

  it("transport 'polling' never opens a stream", async () => {
    const server = new FakeServer();
    server.update('t1', {});
    const { client } = setup({ transport: 'polling' }, server);
    await until(() => client.connection.state === 'polling');
    server.update('t1', { message: 'x' });
    await until(() => client.diagnostics().cursor === server.head, 5000);
    expect(server.count('/v1/stream')).toBe(0);
    await client.close();
  });

  it('a `reset` from a poll replaces the view with the snapshot and reloads the views', async () => {
    const server = new FakeServer();
    server.update('t1', {});
    server.update('t1', { message: 'a' });
    server.update('t1', { message: 'b' });
    const { client } = setup({ transport: 'polling' }, server);
    const list = client.watchTasks({ status: 'active' });
    await until(() => client.connection.state === 'polling');
    expect(list.getSnapshot().tasks.map((t) => t.id)).toEqual(['t1']);
    expect(client.diagnostics().cursor).toBe(3);
    // The server lost its log (restored from an old backup): heads go backwards.
    server.events = [];
    server.tasks.clear();
    server.head = 0;
    server.update('t9', {});
    const lists = server.count('/v1/tasks');
    await until(() => list.getSnapshot().tasks.some((t) => t.id === 't9'), 10_000);
    expect(list.getSnapshot().tasks.map((t) => t.id)).toEqual(['t9']);
    expect(server.count('/v1/tasks')).toBeGreaterThan(lists);
    expect(client.diagnostics().cursor).toBe(1);
    await client.close();
  });

  it('reports delivery health every interval and stops quietly on 404', async () => {
    const server = new FakeServer();
    server.metricsStatus = 202;
    const { client } = setup({ metricsIntervalMs: 60_000 }, server);
    await until(() => client.connection.state === 'live');
    for (let i = 0; i < 130; i++) {
      server.heartbeat();
      await vi.advanceTimersByTimeAsync(1000);
    }
    const reports = server.requests.filter((r) => r.path === '/v1/client-metrics');
    expect(reports).toHaveLength(2);
    expect(reports[0]!.body).toMatchObject({ pollingMs: 0, offlineMs: 0, reconnects: 0 });
    expect((reports[0]!.body as { liveMs: number }).liveMs).toBeGreaterThan(55_000);
    server.metricsStatus = 404;
    await vi.advanceTimersByTimeAsync(60_000);
    await vi.advanceTimersByTimeAsync(5 * 60_000);
    expect(server.requests.filter((r) => r.path === '/v1/client-metrics')).toHaveLength(3);
    await client.close();
  });

  it('falls back to EventSource (token in the query) when fetch cannot stream a body', async () => {
    const server = new FakeServer();
    server.update('t1', {});
    const sources: FakeEventSource[] = [];
    class FakeEventSource {
      onopen: ((e: unknown) => void) | null = null;
      onerror: ((e: unknown) => void) | null = null;
      listeners = new Map<string, (e: { data?: unknown; lastEventId?: string }) => void>();
      closed = false;
      constructor(readonly url: string) {
        sources.push(this);
      }
      addEventListener(type: string, l: (e: { data?: unknown; lastEventId?: string }) => void) {
        this.listeners.set(type, l);
      }
      close() {
        this.closed = true;
      }
    }
    const fetchWithoutStreams = async (input: string, init?: RequestInit) =>
      input.includes('/v1/stream') ? new Response(null, { status: 200 }) : server.fetch(input, init);
    const { client } = setup({ fetch: fetchWithoutStreams, environment: { EventSource: FakeEventSource } }, server);
    const view = client.watchTask('t1');
    await until(() => sources.length === 1);
    const es = sources[0]!;
    expect(new URL(es.url).searchParams.get('access_token')).toBe('good');
    expect(new URL(es.url).searchParams.get('after')).toBe('1');
    es.onopen!({});
    expect(client.connection.state).toBe('live');
    const task = server.update('t1', { progress: { done: 9, total: 10, percent: 90 } });
    es.listeners.get('task.updated')!({ data: JSON.stringify(server.events.at(-1)), lastEventId: String(task.seq) });
    await flush();
    expect(view.getSnapshot().task?.progress.percent).toBe(90);
    expect(client.diagnostics().streamTransport).toBe('eventsource');
    es.onerror!({});
    expect(es.closed).toBe(true);
    expect(client.connection.state).toBe('polling');
    await client.close();
  });

  it('close() is idempotent, returns one promise, and leaves no timer behind', async () => {
    const { client, changes } = setup();
    await until(() => client.connection.state === 'live');
    const a = client.close();
    expect(client.close()).toBe(a);
    await a;
    expect(client.connection.state).toBe('closed');
    expect(changes.at(-1)).toEqual({ previous: 'live', current: 'closed', reason: 'closed' });
    expect(vi.getTimerCount()).toBe(0);
    expect(() => client.watchTask('x')).toThrow(/closed/);
  });

  it('diagnostics expose state, cursor, last event time, poll interval and attempts', async () => {
    const server = new FakeServer();
    server.update('t1', {});
    const { client } = setup({}, server);
    await until(() => client.connection.state === 'live');
    server.update('t1', { message: 'x' });
    await flush();
    const d = client.diagnostics();
    expect(d).toMatchObject({ state: 'live', cursor: 2, pollIntervalMs: 30_000, reconnectAttempts: 0, role: 'solo', streamTransport: 'fetch' });
    expect(d.lastEventAt).toBe(Date.now());
    await client.close();
  });
});

