/** The `keys` sub-store on every engine. */
import { expect, it } from 'vitest';
import { SCOPES } from '@taskpulse/protocol';
import { describeStores } from './engines.ts';

describeStores('store keys', (engine) => {
  it('stores, finds, lists, touches and revokes a key once', async () => {
    const e = engine();
    const a = await e.open();
    const b = e.shared ? await e.open() : a; // another instance where the engine has several
    await a.keys.insert({ id: 'k1', name: 'w', role: 'worker', scopes: ['read'], prefix: 'tpk_ab', hash: 'h1', createdAt: new Date().toISOString(), lastUsedAt: null, revokedAt: null });
    await a.keys.insert({ id: 'k2', name: 'boss', role: 'admin', scopes: [], prefix: 'tpk_cd', hash: 'h2', createdAt: new Date(Date.now() + 1).toISOString(), lastUsedAt: null, revokedAt: null });
    expect(await b.keys.findByHash('h1')).toMatchObject({ id: 'k1', role: 'worker', scopes: ['read'] });
    expect(await b.keys.findByHash('h2')).toMatchObject({ id: 'k2', scopes: [...SCOPES] }); // an admin has every scope
    expect(await b.keys.findByHash('nope')).toBeNull();
    await b.keys.touch('k1', '2026-01-01T00:00:00.000Z');
    const listed = await a.keys.list();
    expect(listed.map((k) => k.id)).toEqual(['k1', 'k2']);
    expect(listed[0]).toMatchObject({ lastUsedAt: '2026-01-01T00:00:00.000Z', revokedAt: null });
    expect(listed[0]).not.toHaveProperty('hash');
    expect(await b.keys.revoke('k1', new Date().toISOString())).toBe(true);
    expect(await a.keys.revoke('k1', new Date().toISOString())).toBe(false);
    expect((await a.keys.findByHash('h1'))!.revokedAt).not.toBeNull();
  });
});
