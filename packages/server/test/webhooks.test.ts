/** Webhooks: signed deliveries from a durable outbox, retried with backoff, with visible history. */
import { createServer, type IncomingMessage } from 'node:http';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { verify } from '../src/webhooks/signature.ts';
import { eventually } from '../../../test-support/eventually.ts';
import { buildTestServer, runningTask, type TestApp } from './support.ts';

const SECRET = 'whsec_test_0123456789abcdef';
let t: TestApp;
let receiver: ReturnType<typeof createServer>;
let receiverUrl = '';
const received: { event: string; body: string; signature: string; delivery: string }[] = [];
let failNext = 0;

beforeAll(async () => {
  receiver = createServer((req: IncomingMessage, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      if (failNext > 0) {
        failNext--;
        res.writeHead(500).end('try later');
        return;
      }
      received.push({ event: String(req.headers['x-taskpulse-event']), body, signature: String(req.headers['x-taskpulse-signature']), delivery: String(req.headers['x-taskpulse-delivery']) });
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
  const a = receiver.address();
  receiverUrl = `http://127.0.0.1:${typeof a === 'object' && a ? a.port : 0}/hook`;
  t = await buildTestServer({ webhookRetryBaseMs: 50 });
});
afterAll(async () => {
  await t.close();
  receiver.close();
});

it('delivers subscribed events signed with the secret, retries failures, and shows the history', async () => {
  const created = await t.api('POST', '/v1/webhooks', { url: receiverUrl, events: ['task.completed', 'task.failed'], secret: SECRET });
  expect(created.status).toBe(201);
  expect(JSON.stringify((await t.api('GET', '/v1/webhooks')).body)).not.toContain(SECRET);

  failNext = 2; // the first two attempts get a 500
  const { id, lease } = await runningTask(t);
  await t.api('POST', `/v1/tasks/${id}/progress`, { lease, done: 1, total: 2 }); // not subscribed
  await t.api('POST', `/v1/tasks/${id}/complete`, { lease, result: { ok: true } });
  await eventually('the delivery received', () => received.length === 1);
  const d = received[0]!;
  expect(d.event).toBe('task.completed');
  expect(verify(SECRET, d.body, d.signature)).toBe(true);
  expect(verify('another-secret-0123456789', d.body, d.signature)).toBe(false);
  const body = JSON.parse(d.body);
  expect(body).toMatchObject({ type: 'task.completed', taskId: id, task: { status: 'completed', result: { ok: true } } });

  // The receiver has the body before the server has recorded its answer: wait for the record.
  const deliveries = async () => (await t.api('GET', `/v1/webhooks/${created.body.id}/deliveries`)).body.deliveries;
  await eventually('the delivery recorded', async () => (await deliveries())[0]?.status === 'delivered');
  expect(await deliveries()).toEqual([
    expect.objectContaining({ event: 'task.completed', status: 'delivered', attempts: 3, lastStatus: 204, seq: body.seq }),
  ]);
});

it('refuses bad subscriptions', async () => {
  for (const body of [
    { url: 'ftp://x', events: ['task.completed'], secret: SECRET },
    { url: receiverUrl, events: [], secret: SECRET },
    { url: receiverUrl, events: ['task.exploded'], secret: SECRET },
    { url: receiverUrl, events: ['task.completed'], secret: 'short' },
  ]) {
    const r = await t.api('POST', '/v1/webhooks', body);
    expect(r.status).toBe(400);
  }
  const viewer = await t.viewerToken('someone');
  expect((await t.api('POST', '/v1/webhooks', { url: receiverUrl, events: ['task.completed'], secret: SECRET }, viewer)).status).toBe(403);
  expect((await t.api('DELETE', '/v1/webhooks/whk_nope')).status).toBe(404);
});

it('keeps undelivered events in the outbox across a restart', async () => {
  const dir = (await import('node:fs')).mkdtempSync((await import('node:path')).join((await import('node:os')).tmpdir(), 'taskpulse-wh-'));
  const first = await buildTestServer({ webhookRetryBaseMs: 60_000 }, dir);
  const hook = await first.api('POST', '/v1/webhooks', { url: receiverUrl, events: ['task.created'], secret: SECRET });
  failNext = 1;
  const before = received.length;
  const task = await first.api('POST', '/v1/tasks', { type: 'outbox', owner: 'o' });
  // One failed attempt is recorded; the retry is a minute away when the server stops.
  await eventually('one failed attempt recorded', async () => (await first.api('GET', `/v1/webhooks/${hook.body.id}/deliveries`)).body.deliveries[0]?.attempts === 1);
  await first.server.close();
  const second = await buildTestServer({ webhookRetryBaseMs: 50 }, dir);
  try {
    // The retry time was stored; make it due now by recording it as such through the store.
    const [pending] = await second.server.store.webhooks.due(Date.now() + 120_000, 10);
    expect(pending).toMatchObject({ seq: task.body.seq, status: 'pending', attempts: 1 });
    await second.server.store.webhooks.record(pending!.id, { ...pending!, nextAttemptAtMs: Date.now() });
    await eventually('the retry delivered after the restart', () => received.length > before);
    expect(JSON.parse(received.at(-1)!.body).taskId).toBe(task.body.id);
  } finally {
    await second.close();
  }
});
