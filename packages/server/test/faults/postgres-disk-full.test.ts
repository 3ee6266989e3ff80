/**
 * PostgreSQL out of disk (issue 8, item 4 on PostgreSQL): `/readyz` goes not-ready with
 * `storage: "down: disk full (53100)"` although `SELECT 1` still answers, writes answer 503 with
 * `retry-after`, and freeing space brings the instance back without a restart.
 *
 * The test database lives in a tablespace on a small tmpfs of the test's own (needs root to
 * mount); the cluster (and its WAL) stays on the ordinary disk, as a data volume filling up
 * before the WAL volume does.
 */
import { execFileSync } from 'node:child_process';
import { chownSync, mkdirSync, statfsSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { startTestServer } from '../support.ts';
import { canMount, mountTmpfs, startPgCluster } from './support.ts';

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

describe('postgresql disk full', () => {
  it.skipIf(!canMount())('/readyz says disk full, writes get 503 with retry-after; freeing space brings it back without a restart', async () => {
    // (Skipped only where this process may not mount a filesystem.)
    const volume = mountTmpfs(24 * 1024 * 1024);
    cleanups.push(() => volume.unmount());
    const cluster = await startPgCluster();
    cleanups.push(() => cluster.stop());
    const location = join(volume.dir, 'ts');
    mkdirSync(location, { mode: 0o700 });
    chownSync(location, Number(execFileSync('id', ['-u', 'postgres']).toString()), Number(execFileSync('id', ['-g', 'postgres']).toString()));
    await cluster.admin(`CREATE TABLESPACE small LOCATION '${location}'`);
    await cluster.admin('CREATE DATABASE full_disk TABLESPACE small');

    const t = await startTestServer({ databaseUrl: cluster.url('full_disk') });
    cleanups.push(() => t.close());
    expect((await t.api('GET', '/readyz', undefined, '')).body).toEqual({ status: 'ready', storage: 'ok', bus: 'ok' });
    const before = await t.api('POST', '/v1/tasks', { type: 'fill', owner: 'u1' });
    expect(before.status).toBe(201);

    // Fill the volume to the last block.
    const filler = join(volume.dir, 'filler');
    const s = statfsSync(volume.dir);
    writeFileSync(filler, Buffer.alloc(s.bavail * s.bsize));

    const ready = await t.api('GET', '/readyz', undefined, '');
    expect(ready.status).toBe(503);
    expect(ready.headers.get('retry-after')).toBe('1');
    expect(ready.body).toMatchObject({ status: 'not_ready', storage: expect.stringMatching(/^down: disk full \(53100\)/), bus: 'ok' });
    // Writes that need space are refused honestly; reads go on.
    let refusal: { status: number; body: any; headers: Headers } | null = null;
    for (let i = 0; i < 200 && !refusal; i++) {
      const r = await t.api('POST', '/v1/tasks', { type: 'fill', owner: 'u1', input: { blob: 'x'.repeat(8000) } });
      if (r.status !== 201) refusal = r;
    }
    expect(refusal?.status).toBe(503);
    expect(refusal?.headers.get('retry-after')).toBe('1');
    expect(refusal?.body.error).toMatchObject({ code: 'unavailable', message: expect.stringMatching(/disk full|out of resources/) });
    expect((await t.api('GET', `/v1/tasks/${before.body.id}`)).status).toBe(200);

    unlinkSync(filler); // the operator frees space: the same process serves again
    expect((await t.api('GET', '/readyz', undefined, '')).body).toEqual({ status: 'ready', storage: 'ok', bus: 'ok' });
    expect((await t.api('POST', '/v1/tasks', { type: 'fill', owner: 'u1' })).status).toBe(201);
  });
});
