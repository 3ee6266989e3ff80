/** API key scopes: least privilege for backends; a key without scopes keeps every worker power. */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { buildTestServer, type TestApp } from './support.ts';

let t: TestApp;
beforeAll(async () => {
  t = await buildTestServer();
});
afterAll(async () => t.close());

const key = async (body: Record<string, unknown>) => {
  const r = await t.api('POST', '/v1/keys', { role: 'worker', ...body });
  expect(r.status).toBe(201);
  return r.body as { id: string; key: string; scopes: string[] };
};

it('a key without scopes has every worker power, as before', async () => {
  const k = await key({ name: 'default' });
  expect(k.scopes).toEqual(['tasks:write', 'tasks:claim', 'tokens:mint', 'read']);
  expect((await t.api('POST', '/v1/tasks', { type: 'sc-default', owner: 'o' }, k.key)).status).toBe(201);
  expect((await t.api('POST', '/v1/tokens', { owner: 'o' }, k.key)).status).toBe(201);
  expect((await t.api('GET', '/v1/tasks', undefined, k.key)).status).toBe(200);
  expect((await t.api('POST', '/v1/tasks/claim', { types: ['sc-default'] }, k.key)).status).toBe(200);
});

it("a queue worker's key (tasks:claim) claims and reports, and can neither mint tokens, create, nor read", async () => {
  const k = await key({ name: 'queue', scopes: ['tasks:claim'] });
  await t.api('POST', '/v1/tasks', { type: 'sc-claim', owner: 'o' });
  const claim = await t.api('POST', '/v1/tasks/claim', { types: ['sc-claim'] }, k.key);
  expect(claim.status).toBe(200);
  const { id } = claim.body.task;
  const lease = claim.body.lease.token;
  expect((await t.api('POST', `/v1/tasks/${id}/progress`, { lease, done: 1, total: 2 }, k.key)).status).toBe(200);
  expect((await t.api('POST', `/v1/tasks/${id}/complete`, { lease }, k.key)).status).toBe(200);
  const mint = await t.api('POST', '/v1/tokens', { owner: 'anyone' }, k.key);
  expect(mint.status).toBe(403);
  expect(mint.body.error.message).toContain('tokens:mint');
  expect((await t.api('POST', '/v1/tasks', { type: 'x', owner: 'o' }, k.key)).status).toBe(403);
  expect((await t.api('GET', '/v1/tasks', undefined, k.key)).status).toBe(403);
  expect((await t.api('GET', '/v1/stream', undefined, k.key)).status).toBe(403); // refused before it streams
});

it('lists scopes and refuses bad ones: unknown, empty, duplicated, or on an admin key', async () => {
  const k = await key({ name: 'minter', scopes: ['tokens:mint', 'read'] });
  const listed = (await t.api('GET', '/v1/keys')).body.keys.find((x: any) => x.id === k.id);
  expect(listed.scopes).toEqual(['tokens:mint', 'read']);
  for (const scopes of [['root'], [], ['read', 'read'], 'read']) {
    const r = await t.api('POST', '/v1/keys', { role: 'worker', scopes });
    expect(r.status, JSON.stringify(scopes)).toBe(400);
  }
  const admin = await t.api('POST', '/v1/keys', { role: 'admin', scopes: ['read'] });
  expect(admin.status).toBe(400);
  expect(admin.body.error.details.fields).toContain('body.scopes');
});
