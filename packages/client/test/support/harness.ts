/** Builds a client over a {@link FakeServer} with fake time and fake host signals. */
import { vi } from 'vitest';
import { createClient, type TaskPulseClient } from '../../src/index.ts';
import type { ClientOptions } from '../../src/options.ts';
import type { StateChange } from '../../src/state-machine.ts';
import { FakeServer, fakeHost } from './fake-server.ts';

export interface Harness {
  server: FakeServer;
  host: ReturnType<typeof fakeHost>;
  client: TaskPulseClient;
  changes: StateChange[];
}

export function setup(options: Partial<ClientOptions> = {}, server = new FakeServer()): Harness {
  const host = fakeHost();
  const client = createClient({
    url: 'http://tp.test',
    token: 'good',
    fetch: server.fetch,
    heartbeatMs: 1000,
    metricsIntervalMs: 0,
    multiTab: false,
    ...options,
    environment: {
      visibility: host.visibility,
      network: host.network,
      random: () => 0.5,
      scheduleFrame: (cb) => queueMicrotask(cb),
      locks: undefined,
      createChannel: undefined,
      ...options.environment,
    },
  });
  const changes: StateChange[] = [];
  client.connection.subscribe((c) => changes.push(c));
  return { server, host, client, changes };
}

/** Lets promise chains settle without moving fake time. */
export async function flush(): Promise<void> {
  for (let i = 0; i < 30; i++) await vi.advanceTimersByTimeAsync(0);
}

/** Moves fake time in small steps until `condition` holds; fails after `maxMs` of fake time. */
export async function until(condition: () => boolean, maxMs = 120_000, stepMs = 10): Promise<number> {
  let waited = 0;
  await flush();
  while (!condition()) {
    if (waited >= maxMs) throw new Error(`condition not met after ${maxMs} ms of fake time`);
    await vi.advanceTimersByTimeAsync(stepMs);
    waited += stepMs;
  }
  return waited;
}
