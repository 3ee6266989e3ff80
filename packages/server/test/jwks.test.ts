/** Viewer tokens from the app's own identity provider, verified against its JWKS. */
import { createServer } from 'node:http';
import { SignJWT, exportJWK, generateKeyPair } from 'jose';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { buildTestServer, skippingClock, type TestApp } from './support.ts';

let t: TestApp;
const clock = skippingClock();
let idp: ReturnType<typeof createServer>;
let privateKey: CryptoKey;

beforeAll(async () => {
  const pair = await generateKeyPair('RS256');
  privateKey = pair.privateKey as CryptoKey;
  const jwk = { ...(await exportJWK(pair.publicKey)), kid: 'k1', alg: 'RS256', use: 'sig' };
  idp = createServer((_req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys: [jwk] })));
  await new Promise<void>((r) => idp.listen(0, '127.0.0.1', r));
  const a = idp.address();
  t = await buildTestServer({ jwksUrl: `http://127.0.0.1:${typeof a === 'object' && a ? a.port : 0}/.well-known/jwks.json`, now: clock.now });
});
afterAll(async () => {
  await t.close();
  idp.close();
});

it("accepts the identity provider's tokens as viewers of their subject, and nothing forged", async () => {
  const mine = await t.api('POST', '/v1/tasks', { type: 'idp', owner: 'alice' });
  await t.api('POST', '/v1/tasks', { type: 'idp', owner: 'bob' });
  const token = await new SignJWT({}).setProtectedHeader({ alg: 'RS256', kid: 'k1' }).setSubject('alice').setIssuedAt().setExpirationTime('5m').sign(privateKey);
  const list = await t.api('GET', '/v1/tasks?type=idp', undefined, token);
  expect(list.status).toBe(200);
  expect(list.body.tasks.map((x: any) => x.id)).toEqual([mine.body.id]);
  const other = await generateKeyPair('RS256');
  const forged = await new SignJWT({}).setProtectedHeader({ alg: 'RS256', kid: 'k1' }).setSubject('alice').setExpirationTime('5m').sign(other.privateKey);
  expect((await t.api('GET', '/v1/tasks', undefined, forged)).status).toBe(401);
  const expired = await new SignJWT({}).setProtectedHeader({ alg: 'RS256', kid: 'k1' }).setSubject('alice').setExpirationTime(Math.floor(Date.now() / 1000) - 60).sign(privateKey);
  const r = await t.api('GET', '/v1/tasks', undefined, expired);
  expect(r.status).toBe(401);
  expect(r.body.error.details.reason).toBe('token_expired');
});

it("checks the identity provider's exp against the injected clock", async () => {
  const token = await new SignJWT({}).setProtectedHeader({ alg: 'RS256', kid: 'k1' }).setSubject('alice').setIssuedAt().setExpirationTime('5m').sign(privateKey);
  expect((await t.api('GET', '/v1/tasks?type=idp', undefined, token)).status).toBe(200);
  clock.advance(6 * 60_000); // past its exp on the server's clock, not on the real one
  const r = await t.api('GET', '/v1/tasks?type=idp', undefined, token);
  expect(r.status).toBe(401);
  expect(r.body.error.details.reason).toBe('token_expired');
});
