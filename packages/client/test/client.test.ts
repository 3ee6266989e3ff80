/**
 * The client's public API over an in-memory server with fake time: views, ordering, batching,
 * credentials, notifications exactly once, and one connection shared by several tabs.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { Notification, TaskEvent } from '@taskpulse/protocol';
import type { AuthEvent } from '../src/index.ts';
import { FakeServer } from './support/fake-server.ts';
import { flush, setup, until } from './support/harness.ts';
import { channelWorld, FakeLocks, fakeJwt } from './support/tabs.ts';

beforeEach(() => {
  vi.useFakeTimers({ now: new Date('2026-11-23T12:00:00.000Z') });
});
afterEach(() => {
  vi.useRealTimers();
});

describe('views', () => {
  it('watchTask: a task from the snapshot shows at once without a request; an unknown one is fetched once and ends in not_found', async () => {
    const server = new FakeServer();
    server.update('t1', { progress: { done: 3, total: 10, percent: 30 } });
    const { client } = setup({}, server);
    await until(() => client.connection.state === 'live');
    const view = client.watchTask('t1');
    expect(view.getSnapshot()).toMatchObject({ loading: false, task: { id: 't1' } });
    expect(server.requests.filter((r) => r.path === '/v1/tasks/t1')).toHaveLength(0); // known: no request
    const missing = client.watchTask('nope');
    client.watchTask('nope');
    expect(missing.getSnapshot().loading).toBe(true);
    await flush();
    expect(server.requests.filter((r) => r.path === '/v1/tasks/nope')).toHaveLength(1); // one request for two views
    expect(missing.getSnapshot()).toMatchObject({ loading: false, task: undefined, error: { code: 'not_found', status: 404 } });
    await client.close();
  });

  it('a task view never goes backwards: a late, older answer is ignored', async () => {
    const server = new FakeServer();
    const old = server.update('t1', { progress: { done: 1, total: 10, percent: 10 } });
    const { client } = setup({}, server);
    await until(() => client.connection.state === 'live');
    server.update('t1', { progress: { done: 9, total: 10, percent: 90 } });
    await flush();
    const view = client.watchTask('t1');
    const seen: Array<number | null | undefined> = [];
    view.subscribe((v) => seen.push(v.task?.progress.percent));
    // A slow GET answered with the old version arrives after the newer event.
    server.tasks.set('t1', old);
    await client.getTask('t1');
    await flush();
    expect(view.getSnapshot().task?.progress.percent).toBe(90);
    expect(seen.every((p) => p === 90)).toBe(true);
    await client.close();
  });

  it('batches UI notifications: many events for a task in one frame → one notification', async () => {
    const frames: Array<() => void> = [];
    const server = new FakeServer();
    server.update('t1', {});
    const { client } = setup({ environment: { scheduleFrame: (cb) => frames.push(cb) } }, server);
    await until(() => client.connection.state === 'live');
    const view = client.watchTask('t1');
    while (frames.length) frames.shift()!();
    const seen: number[] = [];
    view.subscribe((v) => seen.push(v.task!.progress.done!));
    for (let i = 1; i <= 50; i++) server.update('t1', { progress: { done: i, total: 50, percent: i * 2 } });
    await flush();
    expect(frames).toHaveLength(1);
    frames.shift()!();
    expect(seen).toEqual([50]);
    await client.close();
  });

  it('watchTasks: follows the filter as tasks are created, change and finish', async () => {
    const server = new FakeServer();
    server.update('a', { tags: ['p:1'], createdAt: '2026-11-23T10:00:00.000Z' });
    server.update('b', { tags: ['p:2'] });
    const { client } = setup({}, server);
    const list = client.watchTasks({ status: 'active', tag: 'p:1' });
    await until(() => !list.getSnapshot().loading && client.connection.state === 'live');
    expect(list.getSnapshot().tasks.map((t) => t.id)).toEqual(['a']);
    server.update('c', { tags: ['p:1'], createdAt: '2026-11-23T11:00:00.000Z' });
    await flush();
    expect(list.getSnapshot().tasks.map((t) => t.id)).toEqual(['c', 'a']);
    server.update('a', { status: 'completed' });
    await flush();
    expect(list.getSnapshot().tasks.map((t) => t.id)).toEqual(['c']);
    const ids: string[][] = [];
    const it = list[Symbol.asyncIterator]();
    const first = await it.next();
    ids.push((first.value as { tasks: { id: string }[] }).tasks.map((t) => t.id));
    expect(ids).toEqual([['c']]);
    list.close();
    expect((await it.next()).done).toBe(true);
    await client.close();
  });

  it('watchTasks honours its limit: live additions push the oldest out', async () => {
    const server = new FakeServer();
    for (let i = 0; i < 5; i++) server.update(`t${i}`, { createdAt: `2026-11-23T10:0${i}:00.000Z` });
    const { client } = setup({}, server);
    const list = client.watchTasks({ status: 'active', limit: 3 });
    await until(() => !list.getSnapshot().loading && client.connection.state === 'live');
    expect(list.getSnapshot().tasks.map((t) => t.id)).toEqual(['t4', 't3', 't2']);
    server.update('t9', { createdAt: '2026-11-23T11:00:00.000Z' });
    await flush();
    expect(list.getSnapshot().tasks.map((t) => t.id)).toEqual(['t9', 't4', 't3']);
    await client.close();
  });

  it('a view whose first load failed loads again once the server answers', async () => {
    const server = new FakeServer();
    server.update('a', {});
    server.down = true;
    const { client } = setup({}, server);
    const list = client.watchTasks({ status: 'active' });
    await until(() => list.getSnapshot().error !== undefined);
    expect(list.getSnapshot().error?.code).toBe('network');
    server.down = false;
    await until(() => list.getSnapshot().tasks.length === 1 && list.getSnapshot().error === undefined, 60_000);
    await client.close();
  });

  it('onEvent sees every event once, in order, even when polls and the stream overlap', async () => {
    const { client, server } = setup();
    const seqs: number[] = [];
    client.onEvent((e: TaskEvent) => seqs.push(e.seq));
    await until(() => client.connection.state === 'live');
    for (let i = 0; i < 5; i++) server.update('t1', { message: String(i) });
    server.streamSilent = true;
    for (let i = 0; i < 5; i++) server.update('t1', { message: `p${i}` });
    await until(() => client.connection.state === 'polling');
    server.streamSilent = false;
    await until(() => client.connection.state === 'live', 40_000);
    for (let i = 0; i < 5; i++) server.update('t1', { message: `l${i}` });
    client.connection.catchUp();
    await flush();
    expect(seqs).toEqual(Array.from({ length: 15 }, (_, i) => i + 1));
    await client.close();
  });

  it('exposes stable functions for external-store bindings (useSyncExternalStore)', async () => {
    const { client } = setup();
    expect(client.connection).toBe(client.connection);
    expect(client.auth).toBe(client.auth);
    const { subscribe, getSnapshot } = client.connection;
    const seen: string[] = [];
    const off = subscribe(() => seen.push(getSnapshot().state));
    const before = getSnapshot();
    await until(() => client.connection.state === 'live');
    expect(getSnapshot()).not.toBe(before);
    expect(getSnapshot()).toBe(getSnapshot());
    expect(seen).toEqual(['live']);
    off();
    const { onComplete } = client.notifications;
    expect(typeof onComplete(() => {})).toBe('function');
    const w = client.watchTask('t-none');
    const { subscribe: sub, getSnapshot: snap } = w;
    expect(snap()).toBe(w.getSnapshot());
    expect(typeof sub(() => {})).toBe('function');
    await client.close();
  });

  it('cancel() returns the task and updates the views', async () => {
    const server = new FakeServer();
    server.update('t1', {});
    const { client } = setup({}, server);
    await until(() => client.connection.state === 'live');
    const view = client.watchTask('t1');
    const task = await client.cancel('t1');
    expect(task.cancelRequested).toBe(true);
    await flush();
    expect(view.getSnapshot().task?.cancelRequested).toBe(true);
    await client.close();
  });
});

describe('credentials', () => {
  it('a 401 calls getToken() again and resumes from the cursor, saying so to the app', async () => {
    const server = new FakeServer();
    server.validTokens = new Set(['t-1']);
    let n = 0;
    const getToken = vi.fn(async () => `t-${++n}`);
    const { client } = setup({ token: undefined, getToken }, server);
    const auth: AuthEvent['type'][] = [];
    client.auth.subscribe((e) => auth.push(e.type));
    const seqs: number[] = [];
    client.onEvent((e) => seqs.push(e.seq));
    await until(() => client.connection.state === 'live');
    server.update('t1', {});
    await flush();
    // The token expires; the stream is cut, the next request gets 401.
    server.validTokens = new Set(['t-2']);
    server.expiredTokens.add('t-1');
    server.update('t1', { message: 'during' });
    server.dropStreams();
    await until(() => client.connection.state === 'live' && server.requests.some((r) => r.path === '/v1/stream' && r.token === 't-2'));
    server.update('t1', { message: 'after' });
    await flush();
    expect(getToken).toHaveBeenCalledTimes(2);
    expect(auth).toEqual(['token_expired', 'token_refreshed']);
    expect(seqs).toEqual([1, 2, 3]);
    await client.close();
  });

  it('refused credentials with nothing to refresh them → auth_failed and offline (unauthorized), retried', async () => {
    const server = new FakeServer();
    const { client } = setup({ token: 'bad' }, server);
    const auth: AuthEvent[] = [];
    client.auth.subscribe((e) => auth.push(e));
    await until(() => client.connection.state === 'offline');
    expect(client.connection.reason).toBe('unauthorized');
    expect(auth[0]).toMatchObject({ type: 'auth_failed', error: { code: 'unauthorized' } });
    // Retried with backoff: once the credentials are accepted again, it recovers by itself.
    server.validTokens.add('bad');
    await until(() => client.connection.state === 'live', 60_000);
    await client.close();
  });

  it('a JWT is refreshed before its exp and the stream resumes with the new one from the cursor', async () => {
    const server = new FakeServer();
    const first = fakeJwt(Date.now() + 60_000);
    const second = fakeJwt(Date.now() + 3_600_000);
    server.validTokens = new Set([first, second]);
    const { client } = setup({ token: first, getToken: () => second }, server);
    const auth: string[] = [];
    client.auth.subscribe((e) => auth.push(e.type));
    await until(() => client.connection.state === 'live');
    server.update('t1', {});
    await flush();
    await until(() => auth.includes('token_refreshed'), 60_000);
    expect(Date.now()).toBeLessThan(Date.parse('2026-11-23T12:01:00.000Z'));
    await flush();
    const last = server.requests.filter((r) => r.path === '/v1/stream').at(-1)!;
    expect(last.token).toBe(second);
    expect(last.query.get('after')).toBe('1');
    expect(client.connection.state).toBe('live');
    await client.close();
  });

  it('a static JWT reaching its exp is an explicit token_expired event', async () => {
    const server = new FakeServer();
    const token = fakeJwt(Date.now() + 5_000);
    server.validTokens = new Set([token]);
    const { client } = setup({ token }, server);
    const auth: string[] = [];
    client.auth.subscribe((e) => auth.push(e.type));
    await until(() => auth.includes('token_expired'), 10_000);
    expect(Date.now()).toBeGreaterThanOrEqual(Date.parse('2026-11-23T12:00:05.000Z'));
    await client.close();
  });
});

describe('notifications', () => {
  it('onComplete / onFail fire once per task, including unread ones from before the page loaded', async () => {
    const server = new FakeServer();
    server.update('old', {});
    server.finish('old', 'completed'); // finished while no page was open
    const { client } = setup({}, server);
    const completed: string[] = [];
    const failed: string[] = [];
    client.notifications.onComplete((n: Notification) => completed.push(n.taskId));
    client.notifications.onFail((n: Notification) => failed.push(n.taskId));
    await until(() => completed.length === 1);
    server.update('t1', {});
    server.update('t2', {});
    server.finish('t1', 'completed');
    server.finish('t2', 'failed');
    await until(() => completed.length === 2 && failed.length === 1);
    await vi.advanceTimersByTimeAsync(60_000);
    expect(completed).toEqual(['old', 't1']);
    expect(failed).toEqual(['t2']);
    expect(server.notifications.every((n) => n.readAt !== null)).toBe(true);
    await client.close();
    // A reload: nothing is delivered again.
    const again = setup({}, server);
    const replayed: string[] = [];
    again.client.notifications.onNotification((n) => replayed.push(n.id));
    await until(() => again.client.connection.state === 'live');
    await vi.advanceTimersByTimeAsync(10_000);
    expect(replayed).toEqual([]);
    await again.client.close();
  });

  it('without a listener nothing is marked read (a later page still gets it)', async () => {
    const server = new FakeServer();
    const { client } = setup({}, server);
    const changes: string[] = [];
    client.notifications.subscribe((c) => changes.push(c.type));
    await until(() => client.connection.state === 'live');
    server.update('t1', {});
    server.finish('t1', 'completed');
    await vi.advanceTimersByTimeAsync(5000);
    expect(changes).toEqual(['created']);
    expect(server.notifications[0]!.readAt).toBeNull();
    await client.close();
  });

  it('notifications.watch(): the inbox, kept current by created and read events', async () => {
    const server = new FakeServer();
    server.update('a', {});
    server.finish('a', 'completed');
    const { client } = setup({}, server);
    const all = client.notifications.watch();
    const unread = client.notifications.watch({ unread: true });
    await until(() => client.connection.state === 'live' && !all.getSnapshot().loading && !unread.getSnapshot().loading);
    expect(all.getSnapshot()).toMatchObject({ unread: 1, notifications: [{ taskId: 'a' }] });
    server.update('b', {});
    server.finish('b', 'failed');
    await flush();
    expect(all.getSnapshot().notifications.map((n) => n.taskId)).toEqual(['b', 'a']);
    expect(unread.getSnapshot().unread).toBe(2);
    await client.notifications.markRead({ ids: ['ntf_a'] });
    await flush();
    expect(all.getSnapshot()).toMatchObject({ unread: 1, notifications: [{ taskId: 'b', readAt: null }, { taskId: 'a' }] });
    expect(all.getSnapshot().notifications[1]!.readAt).not.toBeNull();
    expect(unread.getSnapshot().notifications.map((n) => n.taskId)).toEqual(['b']);
    await client.close();
  });

  it('shows a browser notification when enabled and granted; successes close themselves', async () => {
    const shown: Array<{ title: string; requireInteraction?: boolean; closed: boolean }> = [];
    class FakeNotification {
      static permission = 'default';
      static requestPermission = vi.fn(async () => {
        FakeNotification.permission = 'granted';
        return 'granted';
      });
      entry: (typeof shown)[number];
      constructor(title: string, options: { requireInteraction?: boolean } = {}) {
        this.entry = { title, requireInteraction: options.requireInteraction, closed: false };
        shown.push(this.entry);
      }
      close() {
        this.entry.closed = true;
      }
    }
    const server = new FakeServer();
    const { client } = setup({ browserNotifications: true, environment: { Notification: FakeNotification } }, server);
    await until(() => client.connection.state === 'live');
    expect(await client.notifications.requestPermission()).toBe('granted');
    server.update('a', {});
    server.update('b', {});
    server.finish('a', 'completed');
    server.finish('b', 'failed');
    await until(() => shown.length === 2);
    await vi.advanceTimersByTimeAsync(6000);
    expect(shown).toEqual([
      { title: 'a completed', requireInteraction: false, closed: true },
      { title: 'b failed', requireInteraction: true, closed: false },
    ]);
    await client.close();
  });
});

describe('tabs', () => {
  function tabs(server: FakeServer, count: number) {
    const locks = new FakeLocks();
    const createChannel = channelWorld();
    return Array.from({ length: count }, () => setup({ multiTab: true, environment: { locks, createChannel } }, server));
  }

  it('one connection for all tabs; followers get the events and the state through the channel', async () => {
    const server = new FakeServer();
    server.update('t1', {});
    const [a, b, c] = tabs(server, 3);
    await until(() => [a, b, c].every((t) => t!.client.connection.state === 'live'));
    expect(server.count('/v1/stream')).toBe(1);
    expect([a, b, c].map((t) => t!.client.diagnostics().role)).toEqual(['leader', 'follower', 'follower']);
    const views = [a, b, c].map((t) => t!.client.watchTask('t1'));
    server.update('t1', { progress: { done: 7, total: 10, percent: 70 } });
    await flush();
    expect(views.map((v) => v.getSnapshot().task?.progress.percent)).toEqual([70, 70, 70]);
    for (const t of [a, b, c]) await t!.client.close();
  });

  it('a lone tab reads the snapshot and the inbox once, though it starts as a follower before it wins the lock', async () => {
    const server = new FakeServer();
    server.update('t1', {});
    const [a] = tabs(server, 1);
    a!.client.notifications.onComplete(() => {}); // a page registers its callback at once
    await until(() => a!.client.connection.state === 'live');
    await flush();
    const snapshotReads = server.requests.filter((r) => r.path === '/v1/snapshot');
    expect(snapshotReads).toHaveLength(1);
    expect(server.requests.filter((r) => r.path === '/v1/notifications' && r.method === 'GET')).toHaveLength(1);
    expect(a!.client.diagnostics().role).toBe('leader');
    await a!.client.close();
  });

  it('when the leader tab closes another takes over with the same cursor', async () => {
    const server = new FakeServer();
    server.update('t1', {});
    const [a, b] = tabs(server, 2);
    await until(() => a!.client.connection.state === 'live' && b!.client.connection.state === 'live');
    server.update('t1', { message: 'x' });
    server.update('t1', { message: 'y' });
    await flush();
    const seqs: number[] = [];
    b!.client.onEvent((e) => seqs.push(e.seq));
    await a!.client.close();
    server.update('t1', { message: 'while nobody leads' });
    await until(() => b!.client.diagnostics().role === 'leader' && b!.client.connection.state === 'live');
    const resumed = server.requests.filter((r) => r.path === '/v1/stream').at(-1)!;
    expect(resumed.query.get('after')).toBe('3');
    server.update('t1', { message: 'z' });
    await flush();
    expect(seqs).toEqual([4, 5]);
    await b!.client.close();
  });

  it('a hidden leader polls for its visible followers; a follower becoming visible triggers a catch-up', async () => {
    const server = new FakeServer();
    server.update('t1', {});
    server.streamStatus = 503; // push down: the leader polls
    const [a, b] = tabs(server, 2);
    await until(() => a!.client.diagnostics().role === 'leader' && a!.client.connection.state === 'polling' && b!.client.connection.state === 'polling');
    b!.host.setHidden(true);
    a!.host.setHidden(true);
    await flush();
    expect(a!.client.diagnostics().pollIntervalMs).toBe(4000);
    const before = server.count('/v1/events');
    b!.host.setHidden(false);
    await flush();
    expect(a!.client.diagnostics().pollIntervalMs).toBe(1000);
    expect(server.count('/v1/events')).toBe(before + 1);
    for (const t of [a, b]) await t!.client.close();
  });

  it('a completion is delivered in exactly one tab, and read in all', async () => {
    const server = new FakeServer();
    const all = tabs(server, 3);
    const delivered: string[] = [];
    const read: string[] = [];
    all.forEach((t, i) => {
      t.client.notifications.onComplete((n) => delivered.push(`${i}:${n.taskId}`));
      t.client.notifications.subscribe((c) => c.type === 'read' && read.push(`${i}`));
    });
    await until(() => all.every((t) => t.client.connection.state === 'live'));
    server.update('t1', {});
    server.finish('t1', 'completed');
    await until(() => delivered.length === 1 && read.length === 3);
    await vi.advanceTimersByTimeAsync(30_000);
    expect(delivered).toHaveLength(1);
    for (const t of all) await t.client.close();
  });
});

