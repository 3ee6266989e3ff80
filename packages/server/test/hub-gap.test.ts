/**
 * The hub's gap fill: events that reach it past a gap (with several instances, an instance's own
 * commits often arrive before another's that precede them) are kept while only the gap is read
 * from the store, then dispatched in order — every seq once.
 */
import { afterEach, expect, it } from 'vitest';
import { MemoryBus } from '../src/bus/memory/memory-bus.ts';
import type { StoredEvent } from '../src/store/store.ts';
import { EventReader } from '../src/stream/event-reader.ts';
import { StreamHub } from '../src/stream/sse-hub.ts';
import { eventually } from '../../../test-support/eventually.ts';
import { event, task, testEngine } from './store/engines.ts';

let hub: StreamHub | null = null;
afterEach(async () => hub?.close());

it('reads only the gap before the events it was handed, and dispatches every seq once, in order', async () => {
  const store = await testEngine('sqlite').open();
  const reader = new EventReader({ log: store.events, snapshot: () => Promise.reject(new Error('not used')) });
  const read: number[] = [];
  const page = reader.page.bind(reader);
  reader.page = async (after, filter, limit) => {
    const p = await page(after, filter, limit);
    read.push(...p.events.map((e) => e.seq));
    return p;
  };
  const bus = new MemoryBus();
  hub = new StreamHub(
    { heartbeatMs: 60_000, retryMs: 1000, bufferBytes: 1 << 20, lagBytes: 1 << 20, maxStreamMs: 3_600_000, pageSize: 500, stallMs: 30_000 },
    { reader, bus },
  );
  await hub.start(); // at the empty log's head, 0
  // Ten events committed, not yet published (the store is not wired to this bus).
  const committed: StoredEvent[] = [];
  store.onCommit((events) => committed.push(...events));
  const t = task('t1');
  await store.write((tx) => tx.insertTask(t));
  for (let i = 0; i < 10; i++) await store.write((tx) => tx.appendEvent(event(t)));
  expect(committed.map((e) => e.seq)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);

  bus.publish(committed.slice(5)); // 6–10 arrive first: 1–5 are a gap
  await eventually('the hub reaches seq 10', () => hub!.head === 10);
  expect(read).toEqual([1, 2, 3, 4, 5]); // only the gap came from the store
  bus.publish(committed.slice(0, 5)); // the late ones: already dispatched
  bus.publish(committed);
  expect(hub.head).toBe(10);
  expect(read).toEqual([1, 2, 3, 4, 5]);
});
