/** Real Redis for the BullMQ bridge tests: fails (never skips) when Redis is unreachable. */
import { Redis } from 'ioredis';

export const REDIS_URL = process.env.TASKPULSE_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';

export function redisConnection() {
  const u = new URL(REDIS_URL);
  return { host: u.hostname, port: Number(u.port || 6379), maxRetriesPerRequest: null };
}

/** Throws a clear error when Redis does not answer PING. */
export async function requireRedis(): Promise<void> {
  const client = new Redis(REDIS_URL, { lazyConnect: true, connectTimeout: 3000, maxRetriesPerRequest: 0, retryStrategy: () => null });
  try {
    await client.connect();
    const pong = await client.ping();
    if (pong !== 'PONG') throw new Error(`unexpected PING answer ${pong}`);
  } catch (error) {
    throw new Error(`Redis is required for the BullMQ bridge tests and is unreachable at ${REDIS_URL}: ${(error as Error).message}`);
  } finally {
    client.disconnect();
  }
}

/** Deletes every key under `prefix:` (the test run's own namespace). */
export async function deletePrefix(prefix: string): Promise<void> {
  const client = new Redis(REDIS_URL, { maxRetriesPerRequest: 1 });
  try {
    let cursor = '0';
    do {
      const [next, keys] = await client.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 500);
      cursor = next;
      if (keys.length > 0) await client.del(...keys);
    } while (cursor !== '0');
  } finally {
    client.disconnect();
  }
}
