/** `GET /v1/snapshot`: a stream's opening snapshot as plain JSON, under the reader's filters and visibility. */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { ADMIN, SseReader, runningTask, startTestServer, type TestServer } from './support.ts';

let t: TestServer;
beforeAll(async () => {
  t = await startTestServer();
});
afterAll(async () => t.close());

it('answers {head, tasks} with the active matching tasks, the same as a stream opens with, then after=head follows on', async () => {
  const queued = (await t.api('POST', '/v1/tasks', { type: 'snap', owner: 'alice', tags: ['p:1'] })).body;
  const running = await runningTask(t, { type: 'snap', owner: 'bob' });
  const done = await runningTask(t, { type: 'snap', owner: 'alice' });
  await t.api('POST', `/v1/tasks/${done.id}/complete`, { lease: done.lease });
  await t.api('POST', '/v1/tasks', { type: 'other', owner: 'alice' });

  const snap = await t.api('GET', '/v1/snapshot?type=snap');
  expect(snap.status).toBe(200);
  expect(snap.headers.get('cache-control')).toBe('no-store');
  expect(snap.body.tasks.map((x: any) => x.id).sort()).toEqual([queued.id, running.id].sort());
  const head = snap.body.head as number;
  expect(head).toBe((await t.api('GET', '/v1/events?after=0&limit=1000')).body.head);

  const stream = await SseReader.open(`${t.url}/v1/stream?type=snap`, ADMIN);
  try {
    const opening = (await stream.until((e) => e.some((x) => x.event === 'snapshot'))).find((x) => x.event === 'snapshot')!;
    const streamed = JSON.parse(opening.data);
    expect(streamed.head).toBe(head);
    expect(streamed.tasks.map((x: any) => x.id).sort()).toEqual(snap.body.tasks.map((x: any) => x.id).sort());
  } finally {
    stream.close();
  }

  expect((await t.api('GET', '/v1/snapshot?tag=p:1')).body.tasks.map((x: any) => x.id)).toEqual([queued.id]);
  await t.api('POST', `/v1/tasks/${running.id}/progress`, { lease: running.lease, done: 1, total: 2 });
  const next = await t.api('GET', `/v1/events?after=${head}&type=snap`);
  expect(next.body.events.map((e: any) => e.taskId)).toEqual([running.id]);
});

it("shows a viewer only its own tasks, with the token in the header or ?access_token=, and refuses bad filters", async () => {
  const mine = (await t.api('POST', '/v1/tasks', { type: 'snapv', owner: 'carol' })).body;
  await t.api('POST', '/v1/tasks', { type: 'snapv', owner: 'dave' });
  const token = await t.viewerToken('carol');
  const viaHeader = await t.api('GET', '/v1/snapshot?type=snapv', undefined, token);
  expect(viaHeader.body.tasks.map((x: any) => x.id)).toEqual([mine.id]);
  const viaQuery = await t.api('GET', `/v1/snapshot?type=snapv&access_token=${token}`, undefined, '');
  expect(viaQuery.body.tasks.map((x: any) => x.id)).toEqual([mine.id]);
  expect((await t.api('GET', '/v1/snapshot', undefined, '')).status).toBe(401);
  const bad = await t.api('GET', '/v1/snapshot?events=task.exploded');
  expect(bad.status).toBe(400);
  expect(bad.body.error.code).toBe('invalid_request');
});

it('is in the served OpenAPI document with its filters and its {head, tasks} answer, beside /v1/events', async () => {
  const doc = (await t.api('GET', '/openapi.json', undefined, '')).body;
  const get = doc.paths['/v1/snapshot'].get;
  expect(get.parameters.map((p: { name: string }) => p.name)).toEqual(expect.arrayContaining(['taskId', 'tag', 'type', 'parentId', 'events']));
  const answer = Object.values(get.responses as Record<string, any>)[0].content['application/json'].schema;
  expect(Object.keys(answer.properties).sort()).toEqual(['head', 'tasks']);
  const events = Object.values(doc.paths['/v1/events'].get.responses as Record<string, any>)[0].content['application/json'].schema;
  expect(Object.keys(events.properties)).toEqual(expect.arrayContaining(['events', 'head', 'reset', 'tasks']));
});
