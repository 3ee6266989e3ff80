/**
 * A Redis outage degrades the bus but leaves the instance ready: storage is the truth, and reads,
 * writes and streams keep working (issue 8, item 5). Uses a redis-server of its own, killed and
 * restarted on the same port.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SseReader, startTestServer, type TestServer } from '../support.ts';
import { eventually } from '../../../../test-support/eventually.ts';
import { startRedis, type RedisServer } from './support.ts';

let redis: RedisServer;
let t: TestServer;
beforeAll(async () => {
  redis = await startRedis();
  t = await startTestServer({ redisUrl: redis.url, redisChannel: `faults-${process.pid}` });
});
afterAll(async () => {
  await t?.close();
  await redis?.stop();
});

describe('redis outage', () => {
  it('/readyz stays ready with the bus degraded; writes, reads and streams keep working; the bus recovers', async () => {
    expect((await t.api('GET', '/readyz', undefined, '')).body).toEqual({ status: 'ready', storage: 'ok', bus: 'ok' });
    const stream = await SseReader.open(`${t.url}/v1/stream?type=outage`, (await t.api('POST', '/v1/keys', { role: 'worker', name: 'w' })).body.key);
    await stream.until((e) => e.some((x) => x.event === 'snapshot'));

    await redis.kill();
    const ready = await t.api('GET', '/readyz', undefined, '');
    expect(ready.status).toBe(200);
    expect(ready.body).toMatchObject({ status: 'ready', storage: 'ok', bus: expect.stringMatching(/^degraded: /) });

    const created = await t.api('POST', '/v1/tasks', { type: 'outage', owner: 'u1' });
    expect(created.status).toBe(201);
    expect((await t.api('GET', `/v1/tasks/${created.body.id}`)).body.status).toBe('queued');
    await stream.until(() => stream.data().some((e) => e.taskId === created.body.id && e.type === 'task.created'));

    await redis.start();
    await eventually('the bus reconnected', async () => (await t.api('GET', '/readyz', undefined, '')).body.bus === 'ok');
    const after = await t.api('POST', '/v1/tasks', { type: 'outage', owner: 'u1' });
    expect(after.status).toBe(201);
    await stream.until(() => stream.data().some((e) => e.taskId === after.body.id));
    stream.close();
  });
});
