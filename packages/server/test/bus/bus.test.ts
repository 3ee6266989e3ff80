/**
 * Bus conformance: what every bus does (memory, and Redis at `TASKPULSE_TEST_REDIS_URL`, default
 * redis://127.0.0.1:6379, on a channel of its own per test), picked by `TASKPULSE_TEST_BUSES`
 * (default `memory,redis`); then what only several Redis instances can show. An unreachable Redis
 * fails these tests: it does not skip them.
 */
import { randomBytes } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import type { Bus } from '../../src/bus/bus.ts';
import { MemoryBus } from '../../src/bus/memory/memory-bus.ts';
import { RedisBus } from '../../src/bus/redis/redis-bus.ts';
import type { StoredEvent } from '../../src/store/store.ts';

const REDIS_URL = process.env.TASKPULSE_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';

const ALL = ['memory', 'redis'] as const;
type BusName = (typeof ALL)[number];
const BUSES: readonly BusName[] = (() => {
  const list = (process.env.TASKPULSE_TEST_BUSES ?? ALL.join(',')).split(',').map((s) => s.trim()).filter(Boolean);
  for (const name of list) if (!(ALL as readonly string[]).includes(name)) throw new Error(`TASKPULSE_TEST_BUSES: unknown bus "${name}" (known: ${ALL.join(', ')})`);
  return list as BusName[];
})();

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** A bus on a channel of this test's own; closed after the test. */
async function openBus(name: BusName, channel = `taskpulse:test:${randomBytes(6).toString('hex')}`): Promise<Bus> {
  const bus = name === 'memory' ? new MemoryBus() : await RedisBus.connect({ url: REDIS_URL, channel });
  cleanups.push(() => bus.close());
  return bus;
}

const ev = (seq: number): StoredEvent => ({
  seq, type: 'task.updated', at: new Date().toISOString(), taskId: 't', owner: 'o', taskType: 'x', parentId: null, tags: ['a'], milestone: false,
  json: JSON.stringify({ seq }),
});
const seqs = (events: StoredEvent[]) => events.map((e) => e.seq);

for (const name of BUSES) {
  describe(`bus: ${name}`, () => {
    it('hands what this instance publishes to every local subscriber at once, in publish order', async () => {
      const bus = await openBus(name);
      await bus.ping();
      const first: number[] = [];
      const second: number[] = [];
      bus.subscribe((events) => first.push(...seqs(events)));
      bus.subscribe((events) => second.push(...seqs(events)));
      bus.publish([ev(1), ev(2)]);
      bus.publish([ev(3)]);
      expect(first).toEqual([1, 2, 3]);
      expect(second).toEqual([1, 2, 3]);
    });

    it('stops delivering to a listener that unsubscribed', async () => {
      const bus = await openBus(name);
      const got: number[] = [];
      const off = bus.subscribe((events) => got.push(...seqs(events)));
      bus.publish([ev(1)]);
      off();
      bus.publish([ev(2)]);
      expect(got).toEqual([1]);
    });

    it('says whether other instances\' events arrive over it, and closes any number of times', async () => {
      const bus = await openBus(name);
      expect(bus.crossInstance ?? true).toBe(name === 'redis');
      await bus.close();
      await bus.close(); // idempotent
    });
  });
}

describe.runIf(BUSES.includes('redis'))('bus: redis, several instances', () => {
  it('wakes the other instances with the events one instance committed, not itself twice', async () => {
    const channel = `taskpulse:test:${randomBytes(6).toString('hex')}`;
    const [a, b] = [await openBus('redis', channel), await openBus('redis', channel)];
    await Promise.all([a.ping(), b.ping()]);
    const gotA: number[] = [];
    const gotB: number[] = [];
    const arrived = new Promise<void>((resolve) =>
      b.subscribe((events) => {
        gotB.push(...seqs(events));
        if (gotB.includes(2)) resolve();
      }),
    );
    const backAtA = new Promise<void>((resolve) =>
      a.subscribe((events) => {
        gotA.push(...seqs(events));
        if (gotA.includes(3)) resolve();
      }),
    );
    a.publish([ev(1), ev(2)]);
    expect(gotA).toEqual([1, 2]); // delivered locally at once
    await arrived;
    expect(gotB).toEqual([1, 2]);
    // Redis delivers in publish order: once B's event reached A, A's own echo has come and gone.
    b.publish([ev(3)]);
    await backAtA;
    expect(gotA).toEqual([1, 2, 3]);
    expect(gotB).toEqual([1, 2, 3]);
    await a.close();
    await a.close(); // idempotent
  });
});
