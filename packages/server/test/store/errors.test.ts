/**
 * The store throws storage errors, never HTTP ones; the HTTP layer answers them as it always did.
 * The list of kinds is complete: each maps to an API error.
 */
import { afterEach, expect, it } from 'vitest';
import { StorageError, type StorageErrorKind } from '../../src/store/errors.ts';
import { toTaskPulseError } from '../../src/http/errors.ts';
import { buildTestServer, type TestApp } from '../support.ts';

const apps: TestApp[] = [];
afterEach(async () => {
  for (const a of apps.splice(0)) await a.close();
});

it('maps every storage error kind to a 4xx API error naming the field', () => {
  const kinds: Record<StorageErrorKind, { code: string; status: number }> = { invalid_cursor: { code: 'invalid_request', status: 400 } };
  for (const [kind, expected] of Object.entries(kinds)) {
    const e = toTaskPulseError(new StorageError(kind as StorageErrorKind, 'cursor is not one this server handed out', 'cursor'));
    expect({ code: e.code, status: e.status }).toEqual(expected);
    expect(e.toBody()).toEqual({ error: { code: expected.code, message: 'cursor is not one this server handed out', details: { fields: ['cursor'] } } });
  }
});

it('answers a cursor the server did not hand out with the same 400 as before', async () => {
  const t = await buildTestServer();
  apps.push(t);
  const res = await t.api('GET', '/v1/tasks?cursor=bm90LWEtY3Vyc29y');
  expect(res.status).toBe(400);
  expect(res.body).toEqual({ error: { code: 'invalid_request', message: 'cursor is not one this server handed out', details: { fields: ['cursor'] } } });
  const other = await t.api('GET', `/v1/tasks?sort=type&cursor=${Buffer.from('n:5').toString('base64url')}`);
  expect(other.body).toEqual({
    error: { code: 'invalid_request', message: 'cursor belongs to another sort order: start again without it', details: { fields: ['cursor'] } },
  });
});
