/** A stream lives no longer than its credential: a revoked API key or an expired viewer or staff token ends it. */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { DEFAULTS } from '../src/config.ts';
import { SseReader, skippingClock, startTestServer, type TestServer } from './support.ts';

let t: TestServer;
// Credential checks, the key cache and token expiry read this clock: the tests skip time on it.
const clock = skippingClock();
beforeAll(async () => {
  t = await startTestServer({ heartbeatMs: 200, now: clock.now });
});
afterAll(async () => t.close());

async function openLive(credential: string, query = ''): Promise<SseReader> {
  const s = await SseReader.open(`${t.url}/v1/stream${query}`, credential);
  expect(s.status).toBe(200);
  await s.until((e) => e.some((x) => x.event === 'snapshot'));
  return s;
}

it('ends the streams of an API key revoked on this instance, and the key opens no new one', async () => {
  const key = (await t.api('POST', '/v1/keys', { role: 'worker', name: 'revoked-live' })).body;
  const other = (await t.api('POST', '/v1/keys', { role: 'worker', name: 'kept' })).body;
  const s = await openLive(key.key);
  const kept = await openLive(other.key);
  try {
    expect((await t.api('DELETE', `/v1/keys/${key.id}`)).status).toBe(200);
    await s.untilEnded();
    expect((await SseReader.open(`${t.url}/v1/stream`, key.key)).status).toBe(401);
    // Another key's stream is untouched: it still gets events.
    const created = (await t.api('POST', '/v1/tasks', { type: 'cred', owner: 'o' })).body;
    await kept.until((e) => e.some((x) => x.event === 'task.created' && JSON.parse(x.data).taskId === created.id));
    expect(kept.ended).toBe(false);
  } finally {
    s.close();
    kept.close();
  }
});

it('ends the streams of a key revoked elsewhere (another instance, the CLI) at the next credential check', async () => {
  const key = (await t.api('POST', '/v1/keys', { role: 'worker', name: 'revoked-elsewhere' })).body;
  const s = await openLive(key.key);
  try {
    // Straight in the store, as another instance or `taskpulse keys revoke` would: this instance's cache is not told.
    expect(await t.server.store.keys.revoke(key.id, new Date().toISOString())).toBe(true);
    // Past the next credential check and the key cache's lifetime: the hub's next tick checks.
    clock.advance(DEFAULTS.credentialCheckMs + DEFAULTS.keyCacheMs);
    await s.untilEnded(30_000);
  } finally {
    s.close();
  }
});

it.each([
  ['a viewer', () => t.viewerToken('exp-owner', 2)],
  ["a staff (the dashboard's)", async () => (await t.api('POST', '/v1/tokens', { role: 'staff', ttlSeconds: 2 })).body.token as string],
] as const)('ends %s stream when its token expires; the token opens no new one', async (_, mint) => {
  const token = await mint();
  const s = await openLive(token);
  try {
    await s.until((e) => e.some((x) => x.event === 'heartbeat'));
    clock.advance(2000); // the token's lifetime
    await s.untilEnded();
    // Ended by the server because of the expiry (a heartbeat came before), not by an error.
    expect(s.events.some((e) => e.event === 'heartbeat')).toBe(true);
    const again = await t.api('GET', '/v1/stream', undefined, token);
    expect(again.status).toBe(401);
    expect(again.body.error.details.reason).toBe('token_expired');
  } finally {
    s.close();
  }
});
