/**
 * A lease renewal keeps the length the worker chose at claim, on both stores and across a
 * restart: a worker that asked for a short lease to have its crash noticed fast keeps it.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { buildTestServer, freshSchema, type TestApp } from './support.ts';

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** Each engine: options for a server, the same storage every time it is called. */
const engines: [string, () => Promise<() => Record<string, unknown>>][] = [
  ['sqlite', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'taskpulse-lease-'));
    cleanups.push(async () => rmSync(dir, { recursive: true, force: true }));
    return () => ({ db: join(dir, 'lease.db') });
  }],
  ['postgres', async () => {
    const { url } = await freshSchema(cleanups);
    return () => ({ databaseUrl: url });
  }],
];

const remaining = (expiresAt: string) => Date.parse(expiresAt) - Date.now();

describe.each(engines)('lease renewal (%s)', (_name, storage) => {
  it('keeps the claimed length across reports, heartbeats and a restart, unless a report sets leaseMs', async () => {
    const opts = await storage();
    const open = async (): Promise<TestApp> => {
      const s = await buildTestServer({ ...opts(), leaseMs: 3_600_000 });
      return s;
    };
    let s = await open();
    const type = `lease_${randomBytes(3).toString('hex')}`;
    await s.api('POST', '/v1/tasks', { type, owner: 'u1' });
    const claim = await s.api('POST', '/v1/tasks/claim', { types: [type], leaseMs: 60_000 });
    expect(claim.status).toBe(200);
    const { id } = claim.body.task;
    const lease = claim.body.lease.token as string;
    expect(remaining(claim.body.lease.expiresAt)).toBeLessThanOrEqual(60_000);

    const p = await s.api('POST', `/v1/tasks/${id}/progress`, { lease, done: 1, total: 10 });
    expect(p.status).toBe(200);
    // Far below the one-hour server default: the renewal kept the claimed minute.
    expect(remaining(p.body.lease.expiresAt)).toBeLessThanOrEqual(60_000);
    const b = await s.api('POST', '/v1/progress', { updates: [{ id, lease, done: 2 }] });
    expect(remaining(b.body.results[0].lease.expiresAt)).toBeLessThanOrEqual(60_000);

    // The length is stored with the lease: a restarted server renews with it too.
    await s.server.close();
    s = await open();
    cleanups.push(() => s.server.close());
    const h = await s.api('POST', `/v1/tasks/${id}/heartbeat`, { lease });
    expect(h.status).toBe(200);
    expect(remaining(h.body.lease.expiresAt)).toBeLessThanOrEqual(60_000);

    const longer = await s.api('POST', `/v1/tasks/${id}/heartbeat`, { lease, leaseMs: 120_000 });
    expect(remaining(longer.body.lease.expiresAt)).toBeGreaterThan(60_000);
    const after = await s.api('POST', `/v1/tasks/${id}/progress`, { lease, done: 3 });
    expect(remaining(after.body.lease.expiresAt)).toBeGreaterThan(60_000);
  });
});
