/** Viewer tokens with malformed claims are refused (401): a claim the server cannot read never widens access. */
import { SignJWT, generateKeyPair } from 'jose';
import { signedWithSecret } from '../src/auth/tokens.ts';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { buildTestServer, skippingClock, type TestApp } from './support.ts';

const SECRET = 'tokens-test-secret-0123456789abcdef';
let t: TestApp;
const clock = skippingClock();
let mine: string;
beforeAll(async () => {
  t = await buildTestServer({ secret: SECRET, now: clock.now });
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
  const s = await t.api('GET', `/v1/stream?access_token=${await sign(claims)}`, undefined, null);
  expect(s.status).toBe(401);
});

it('answers 401 to a subject that is not a string', async () => {
  expect((await t.api('GET', '/v1/tasks', undefined, await sign({ sub: 42 }, null))).status).toBe(401);
});

it('dates and expires tokens by the injected clock: refused once it passes their exp, without waiting', async () => {
  clock.advance(86_400_000); // the token service runs a day ahead of real time from here on
  const minted = await t.api('POST', '/v1/tokens', { owner: 'alice', ttlSeconds: 60 });
  expect(minted.status).toBe(201);
  const issued = JSON.parse(Buffer.from(minted.body.token.split('.')[1], 'base64url').toString());
  expect(issued.iat * 1000).toBeGreaterThan(Date.now() + 3_600_000); // dated by the injected clock
  expect(issued.exp - issued.iat).toBe(60);
  expect(Date.parse(minted.body.expiresAt)).toBe(issued.exp * 1000);
  expect((await t.api('GET', '/v1/tasks?type=claims', undefined, minted.body.token)).status).toBe(200);
  clock.advance(61_000);
  const r = await t.api('GET', '/v1/tasks?type=claims', undefined, minted.body.token);
  expect(r.status).toBe(401);
  expect(r.body.error.details.reason).toBe('token_expired');
});

it('tells the tokens this server signed (not re-checked while their stream is open) from any other credential', async () => {
  expect(signedWithSecret(await sign({}))).toBe(true);
  const { privateKey } = await generateKeyPair('ES256');
  const idp = await new SignJWT({}).setProtectedHeader({ alg: 'ES256' }).setSubject('alice').setExpirationTime('5m').sign(privateKey);
  expect(signedWithSecret(idp)).toBe(false); // an identity provider's token: re-checked against its JWKS
  expect(signedWithSecret('tp_live_0123456789abcdef')).toBe(false); // an API key: re-checked (revocation)
  expect(signedWithSecret('not.a.jwt')).toBe(false);
});
