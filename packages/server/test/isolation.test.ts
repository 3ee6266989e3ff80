/** Isolation: a viewer never receives another owner's task, in any answer or stream. */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { SseReader, buildTestServer, type TestApp } from './support.ts';

let t: TestApp;
let alice: string;
let bobTask: { id: string; lease: string };
let aliceTask: { id: string; lease: string };
beforeAll(async () => {
  t = await buildTestServer({ heartbeatMs: 100 });
  alice = await t.viewerToken('alice');
  const mk = async (owner: string) => {
    const r = await t.api('POST', '/v1/tasks', { type: 'iso', owner, tags: ['shared'], start: true });
    return { id: r.body.task.id, lease: r.body.lease.token };
  };
  aliceTask = await mk('alice');
  bobTask = await mk('bob');
});
afterAll(async () => t.close());

const leaks = (value: unknown) => JSON.stringify(value).includes(bobTask.id) || JSON.stringify(value).includes('"bob"');

it('keeps every REST answer to the viewer\'s own tasks', async () => {
  for (const path of [`/v1/tasks/${bobTask.id}`, `/v1/tasks/${bobTask.id}/logs`]) {
    const r = await t.api('GET', path, undefined, alice);
    expect(r.status, path).toBe(404);
  }
  expect((await t.api('POST', `/v1/tasks/${bobTask.id}/cancel`, undefined, alice)).status).toBe(404);
  for (const q of ['', '?tag=shared', '?type=iso', '?status=active', `?parentId=${bobTask.id}`]) {
    const r = await t.api('GET', `/v1/tasks${q}`, undefined, alice);
    expect(r.status).toBe(200);
    expect(leaks(r.body), q).toBe(false);
    if (q !== `?parentId=${bobTask.id}`) expect(r.body.tasks.map((x: any) => x.id), q).toContain(aliceTask.id);
  }
  expect((await t.api('GET', '/v1/notifications?owner=bob', undefined, alice)).status).toBe(403);
});

it('keeps streams, polls and notifications to the viewer\'s own events', async () => {
  const url = await t.listen(); // streams need a socket
  const streams = await Promise.all(
    ['', '?tag=shared', `?taskId=${bobTask.id}&after=0`, '?type=iso&after=0', '?after=0'].map((q) => SseReader.open(`${url}/v1/stream${q}`, alice)),
  );
  for (const task of [bobTask, aliceTask]) {
    await t.api('POST', `/v1/tasks/${task.id}/progress`, { lease: task.lease, done: 1, total: 2, log: 'a line' });
    await t.api('POST', `/v1/tasks/${task.id}/complete`, { lease: task.lease, result: { secret: task === bobTask ? 'bob-only' : 'ok' } });
  }
  const head = (await t.api('GET', '/v1/events?after=999999999')).body.head;
  for (const s of streams) {
    await s.until((e) => e.some((x) => x.event === 'heartbeat' && Number(x.id) >= head));
    s.close();
    expect(leaks(s.events) || JSON.stringify(s.events).includes('bob-only')).toBe(false);
  }
  expect(streams[4]!.data().some((e) => e.type === 'task.completed' && e.taskId === aliceTask.id)).toBe(true);
  for (const q of ['after=0', `after=0&taskId=${bobTask.id}`, 'after=0&tag=shared', 'after=0&events=notification.created']) {
    const r = await t.api('GET', `/v1/events?${q}&limit=1000`, undefined, alice);
    expect(leaks(r.body) || JSON.stringify(r.body).includes('bob-only'), q).toBe(false);
  }
  const mine = await t.api('GET', '/v1/notifications', undefined, alice);
  expect(mine.body.notifications.map((n: any) => n.taskId)).toEqual([aliceTask.id]);
  // Marking someone else's notification read does nothing.
  const bobs = await t.api('GET', '/v1/notifications?owner=bob');
  const r = await t.api('POST', '/v1/notifications/read', { ids: [bobs.body.notifications[0].id] }, alice);
  expect(r.body.ids).toEqual([]);
  expect((await t.api('GET', '/v1/notifications?owner=bob&unread=true')).body.notifications).toHaveLength(1);
});

it('limits a token minted for some tasks to those tasks', async () => {
  const other = (await t.api('POST', '/v1/tasks', { type: 'iso', owner: 'alice' })).body;
  const narrow = await t.viewerToken('alice', 60, [aliceTask.id]);
  expect((await t.api('GET', `/v1/tasks/${aliceTask.id}`, undefined, narrow)).status).toBe(200);
  expect((await t.api('GET', `/v1/tasks/${other.id}`, undefined, narrow)).status).toBe(404);
  const list = await t.api('GET', '/v1/tasks', undefined, narrow);
  expect(list.body.tasks.map((x: any) => x.id)).toEqual([aliceTask.id]);
  const ev = await t.api('GET', '/v1/events?after=0&limit=1000', undefined, narrow);
  expect(ev.body.events.every((e: any) => e.taskId === aliceTask.id)).toBe(true);
});
