/**
 * The client against the real server (SQLite, port 0): live updates, a server restart, a stalled
 * stream behind a proxy, and token expiry. Heartbeats are 500 ms so the watchdog (2 × heartbeat)
 * acts quickly; every wait is on a condition, with generous limits for a loaded machine.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { createClient, type AuthEvent, type TaskPulseClient } from '../src/index.ts';
import { eventually } from '../../../test-support/eventually.ts';
import { adminApi, removeDir, startRealServer, startStallingProxy } from './support/real-server.ts';

const HEARTBEAT_MS = 500;
const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const f of cleanups.splice(0).reverse()) await f();
});

function client(url: string, options: Partial<Parameters<typeof createClient>[0]>): TaskPulseClient {
  const c = createClient({ url, heartbeatMs: HEARTBEAT_MS, multiTab: false, metricsIntervalMs: 0, ...options } as Parameters<typeof createClient>[0]);
  cleanups.push(() => c.close());
  return c;
}

function record(c: TaskPulseClient): number[] {
  const seqs: number[] = [];
  c.onEvent((e) => seqs.push(e.seq));
  return seqs;
}

async function server(options: Parameters<typeof startRealServer>[0] = {}) {
  const s = await startRealServer(options);
  cleanups.push(async () => {
    await s.close().catch(() => {});
    removeDir(s.dir);
  });
  return s;
}

describe('client against the real server', () => {
  it('live updates: every report shows, in order, ending in one completion notification', async () => {
    const s = await server();
    const api = adminApi(() => s.url);
    const task = await api.start('alice');
    await api.progress(task, 5);
    const token = await api.token('alice');
    const c = client(s.url, { token });
    const view = c.watchTask(task.id);
    const percents: number[] = [];
    view.subscribe((v) => {
      if (v.task?.progress.percent != null) percents.push(v.task.progress.percent);
    });
    const completions: string[] = [];
    c.notifications.onComplete((n) => completions.push(n.taskId));
    await eventually('live', () => c.connection.state === 'live');
    // Reload recovery: the snapshot shows the running task at once, before any new event.
    expect(view.getSnapshot().task?.progress.percent).toBe(5);
    const startCursor = c.diagnostics().cursor!;
    const seqs = record(c);
    for (let i = 1; i <= 10; i++) await api.progress(task, i * 10);
    await eventually('100 %', () => view.getSnapshot().task?.progress.percent === 100);
    await api.complete(task);
    await eventually('completed', () => view.getSnapshot().task?.status === 'completed');
    await eventually('completion notification', () => completions.length === 1);
    for (let i = 1; i < percents.length; i++) expect(percents[i]!).toBeGreaterThanOrEqual(percents[i - 1]!);
    await eventually('notification read', async () => (await c.notifications.list({ unread: true })).length === 0);
    const all = (await api.eventSeqs(token)).filter((q) => q > startCursor);
    await eventually('all events seen', () => seqs.length >= all.length);
    expect(seqs).toEqual(all);
    expect(completions).toEqual([task.id]);
    expect(c.connection.state).toBe('live');
  });

  it('delta stream (the default): progress goes as what changed, views and onEvent get whole tasks', async () => {
    const s = await server();
    const api = adminApi(() => s.url);
    const created = await api.call<{ task: { id: string }; lease: { token: string } }>('POST', '/v1/tasks', { type: 'client-delta', owner: 'dora', start: true, input: { doc: 'd'.repeat(3000) } });
    const task = { id: created.task.id, lease: created.lease.token };
    // What the server wrote on the stream, as the client's own fetch received it.
    let wire = '';
    const tap: typeof fetch = async (input, init) => {
      const res = await fetch(input, init);
      if (!String(input).includes('/v1/stream') || !res.body) return res;
      expect(String(input)).toContain('delta=true');
      const [mine, theirs] = res.body.tee();
      void (async () => {
        const decoder = new TextDecoder();
        for await (const chunk of mine as unknown as AsyncIterable<Uint8Array>) wire += decoder.decode(chunk, { stream: true });
      })().catch(() => {});
      return new Response(theirs, { status: res.status, headers: res.headers });
    };
    const c = client(s.url, { token: await api.token('dora'), fetch: tap });
    const view = c.watchTask(task.id);
    const seen: { seq: number; input: unknown }[] = [];
    c.onEvent((e) => e.task && seen.push({ seq: e.seq, input: e.task.input }));
    await eventually('live', () => c.connection.state === 'live');
    let last = 0;
    for (let i = 1; i <= 6; i++) last = (await api.progress(task, i * 10)).seq;
    await eventually('60 %', () => view.getSnapshot().task?.progress.percent === 60);
    const deltas = wire.split('\n\n').filter((b) => b.includes('"base":'));
    expect(deltas.length).toBeGreaterThanOrEqual(5); // the first after the snapshot may be whole
    expect(deltas.every((b) => !b.includes('dddd'))).toBe(true); // the input is not sent again
    expect(view.getSnapshot().task).toMatchObject({ seq: last, input: { doc: 'd'.repeat(3000) }, type: 'client-delta', owner: 'dora' });
    expect(seen.length).toBe(6);
    expect(seen.every((e) => (e.input as { doc: string }).doc.length === 3000)).toBe(true);
    expect(c.diagnostics().requests.streams).toBe(1); // never dropped: every delta had its base
  });

  it('server restarted mid-stream: the client resumes from its cursor with no gap', async () => {
    const s1 = await server();
    const api = adminApi(() => s1.url);
    const task = await api.start('bob');
    const token = await api.token('bob');
    const c = client(s1.url, { token, reconnectMaxMs: 2000 });
    const view = c.watchTask(task.id);
    await eventually('live', () => c.connection.state === 'live');
    const startCursor = c.diagnostics().cursor!;
    const seqs = record(c);
    for (let i = 1; i <= 3; i++) await api.progress(task, i * 10);
    await eventually('30 %', () => view.getSnapshot().task?.progress.percent === 30);
    await s1.close();
    await eventually('stream lost', () => c.connection.state !== 'live');
    const s2 = await server({ port: s1.port, db: s1.db });
    for (let i = 4; i <= 6; i++) await api.progress(task, i * 10);
    await api.complete(task);
    await eventually('completed after restart', () => view.getSnapshot().task?.status === 'completed', 30_000);
    await eventually('live again', () => c.connection.state === 'live', 30_000);
    const all = (await adminApi(() => s2.url).eventSeqs(token)).filter((q) => q > startCursor);
    await eventually('all events seen', () => seqs.length >= all.length);
    expect(seqs).toEqual(all);
    expect(c.diagnostics().reconnectAttempts).toBeGreaterThanOrEqual(0);
    removeDir(s1.dir);
  });

  it('server replaced by one with an empty log: `reset` → the client takes the new snapshot', async () => {
    const s1 = await server();
    const api1 = adminApi(() => s1.url);
    const old = await api1.start('frank');
    for (let i = 1; i <= 5; i++) await api1.progress(old, i);
    let current = s1.url;
    const c = client(s1.url, { getToken: () => adminApi(() => current).token('frank'), reconnectMaxMs: 2000 });
    const list = c.watchTasks({ status: 'active' });
    await eventually('live with the old task', () => c.connection.state === 'live' && list.getSnapshot().tasks.length === 1);
    const oldCursor = c.diagnostics().cursor!;
    await s1.close();
    const s2 = await server({ port: s1.port }); // a fresh database: its head is below our cursor
    current = s2.url;
    const api2 = adminApi(() => s2.url);
    const fresh = await api2.start('frank');
    await eventually('new snapshot shown', () => list.getSnapshot().tasks.map((t) => t.id).join() === fresh.id, 30_000);
    expect(c.diagnostics().cursor!).toBeLessThan(oldCursor);
    await api2.progress(fresh, 42);
    await eventually('new task live', () => c.watchTask(fresh.id).getSnapshot().task?.progress.done === 42, 30_000);
    removeDir(s1.dir);
  });

  it('stream stalled by a proxy: → polling within the watchdog, updates keep arriving, then live again', async () => {
    const s = await server();
    const proxy = await startStallingProxy(s.url);
    cleanups.push(() => proxy.close());
    const api = adminApi(() => s.url);
    const task = await api.start('carol');
    const token = await api.token('carol');
    const c = client(proxy.url, { token });
    const view = c.watchTask(task.id);
    const states: string[] = [];
    c.connection.subscribe((ch) => states.push(`${ch.current}:${ch.reason}`));
    await eventually('live', () => c.connection.state === 'live');
    const startCursor = c.diagnostics().cursor!;
    const seqs = record(c);
    proxy.stall(true);
    await api.progress(task, 40);
    await eventually('polling', () => c.connection.state === 'polling');
    expect(states).toContain('polling:watchdog');
    await eventually('40 % by polling', () => view.getSnapshot().task?.progress.percent === 40);
    await api.progress(task, 60);
    await eventually('60 % by polling', () => view.getSnapshot().task?.progress.percent === 60);
    expect(c.connection.state).toBe('polling');
    proxy.stall(false);
    await eventually('live again', () => c.connection.state === 'live', 60_000);
    await api.progress(task, 80);
    await eventually('80 % live', () => view.getSnapshot().task?.progress.percent === 80);
    const all = (await api.eventSeqs(token)).filter((q) => q > startCursor);
    await eventually('all events seen', () => seqs.length >= all.length);
    expect(seqs).toEqual(all);
  });

  it('token about to expire: refreshed ahead of its exp, the stream resumes with it, no gap', async () => {
    const s = await server();
    const api = adminApi(() => s.url);
    const task = await api.start('dave');
    let calls = 0;
    const getToken = async () => api.token('dave', ++calls === 1 ? 3 : 3600);
    const c = client(s.url, { getToken });
    const auth: AuthEvent['type'][] = [];
    c.auth.subscribe((e) => auth.push(e.type));
    const view = c.watchTask(task.id);
    await eventually('live', () => c.connection.state === 'live');
    const startCursor = c.diagnostics().cursor!;
    const seqs = record(c);
    let done = 0;
    while (!auth.includes('token_refreshed')) {
      await api.progress(task, ++done, 1_000_000);
      await eventually(`${done} shown`, () => view.getSnapshot().task?.progress.done === done);
    }
    const last = done + 1;
    await api.progress(task, last, 1_000_000);
    await eventually('a report after the refresh', () => view.getSnapshot().task?.progress.done === last);
    expect(calls).toBe(2);
    const all = (await api.eventSeqs(await api.token('dave'))).filter((q) => q > startCursor);
    await eventually('all events seen', () => seqs.length >= all.length);
    expect(seqs).toEqual(all);
    expect(c.connection.state).toBe('live');
  });

  it('token expired: the 401 calls getToken() again and the client resumes from its cursor, no gap', async () => {
    // The server's clock runs ahead when told: the first token expires without the test waiting.
    let skipped = 0;
    const s = await server({ now: () => Date.now() + skipped });
    const api = adminApi(() => s.url);
    const task = await api.start('erin');
    // The app hands out opaque handles (no readable exp, so no early refresh): only the 401 tells.
    const real = new Map<string, string>();
    let n = 0;
    const getToken = async () => {
      const handle = `handle-${++n}`;
      real.set(handle, await api.token('erin', n === 1 ? 1 : 3600));
      return handle;
    };
    const viaHandles = (input: string, init: RequestInit = {}) => {
      const headers = new Headers(init.headers);
      const handle = headers.get('authorization')?.replace('Bearer ', '') ?? '';
      headers.set('authorization', `Bearer ${real.get(handle) ?? handle}`);
      return fetch(input, { ...init, headers });
    };
    const c = client(s.url, { getToken, fetch: viaHandles });
    const auth: AuthEvent['type'][] = [];
    c.auth.subscribe((e) => auth.push(e.type));
    const view = c.watchTask(task.id);
    await eventually('live', () => c.connection.state === 'live');
    const startCursor = c.diagnostics().cursor!;
    const seqs = record(c);
    await api.progress(task, 10);
    await eventually('10 shown', () => view.getSnapshot().task?.progress.done === 10);
    // Past the first token's exp on the server's clock: the server refuses it.
    const first = real.get('handle-1')!;
    skipped += 1100;
    await eventually(
      'first token expired',
      async () => (await fetch(`${s.url}/v1/tasks/${task.id}`, { headers: { authorization: `Bearer ${first}` } })).status === 401,
      10_000,
    );
    await api.progress(task, 20);
    c.connection.catchUp(); // a poll with the expired token: 401 → getToken() → retried
    await eventually('refreshed', () => auth.includes('token_refreshed'));
    await eventually('20 shown', () => view.getSnapshot().task?.progress.done === 20);
    expect(auth.slice(0, 2)).toEqual(['token_expired', 'token_refreshed']);
    await api.complete(task);
    await eventually('completed', () => view.getSnapshot().task?.status === 'completed');
    const all = (await api.eventSeqs(await api.token('erin'))).filter((q) => q > startCursor);
    await eventually('all events seen', () => seqs.length >= all.length);
    expect(seqs).toEqual(all);
  });
});
