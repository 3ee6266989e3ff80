/** Viewer tokens with malformed claims are refused (401): a claim the server cannot read never widens access. */
import { SignJWT } from 'jose';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startTestServer, type TestServer } from './support.ts';

const SECRET = 'tokens-test-secret-0123456789abcdef';
let t: TestServer;
let mine: string;
beforeAll(async () => {
  t = await startTestServer({ secret: SECRET });
  mine = (await t.api('POST', '/v1/tasks', { type: 'claims', owner: 'alice' })).body.id;
  await t.api('POST', '/v1/tasks', { type: 'claims', owner: 'alice' });
});
afterAll(async () => t.close());

const sign = (claims: Record<string, unknown>, sub: string | null = 'alice') => {
  const jwt = new SignJWT(claims).setProtectedHeader({ alg: 'HS256' }).setIssuer('taskpulse').setIssuedAt().setExpirationTime('5m');
  if (sub !== null) jwt.setSubject(sub);
  return jwt.sign(new TextEncoder().encode(SECRET));
};

it('reads only the listed tasks with a well-formed tids claim', async () => {
  const list = await t.api('GET', '/v1/tasks?type=claims', undefined, await sign({ tids: [mine] }));
  expect(list.status).toBe(200);
  expect(list.body.tasks.map((x: any) => x.id)).toEqual([mine]);
});

it.each([
  ['a string', { tids: 'tsk_1' }],
  ['a number', { tids: 7 }],
  ['an object', { tids: { 0: 'tsk_1' } }],
  ['null', { tids: null }],
  ['an array with a non-string', { tids: ['tsk_1', 3] }],
  ['an array with an empty id', { tids: [''] }],
  ['an array with an over-long id', { tids: ['x'.repeat(129)] }],
  ['an array too long', { tids: Array.from({ length: 1001 }, (_, i) => `tsk_${i}`) }],
])('answers 401 to a tids claim that is %s, never the owner\'s whole list', async (_what, claims) => {
  const r = await t.api('GET', '/v1/tasks?type=claims', undefined, await sign(claims));
  expect(r.status).toBe(401);
  expect(r.body.error.code).toBe('unauthorized');
  const s = await fetch(`${t.url}/v1/stream?access_token=${await sign(claims)}`);
  expect(s.status).toBe(401);
  await s.body?.cancel();
});

it('answers 401 to a subject that is not a string', async () => {
  expect((await t.api('GET', '/v1/tasks', undefined, await sign({ sub: 42 }, null))).status).toBe(401);
});
