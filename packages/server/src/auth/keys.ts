/**
 * API keys: `tpk_` + 32 random bytes. Only a SHA-256 of the key is stored (the keys are random
 * and long, so a slow hash adds nothing); the key itself is shown once at creation.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { DEFAULT_WORKER_SCOPES, SCOPES, TaskPulseError, type ApiKeyInfo, type Role, type Scope } from '@taskpulse/protocol';
import type { Store } from '../store/store.ts';
import { newId } from '../ids.ts';
import type { Principal } from './principal.ts';

/** The bootstrap admin key's principal (it has no stored id). */
const BOOTSTRAP_ADMIN: Principal = Object.freeze({ role: 'admin', keyId: null });

export const KEY_PREFIX = 'tpk_';

export function hashKey(key: string): string {
  return createHash('sha256').update(key).digest('hex');
}

export interface KeyServiceConfig {
  /** A bootstrap admin key accepted without being stored (TASKPULSE_ADMIN_KEY). */
  adminKey: string | null;
  /** How long a looked-up key is trusted before it is read again (revocation delay across instances). */
  cacheMs: number;
  /** The clock the cache's age is read on (tests skip time). @defaultValue Date.now */
  now?: () => number;
}

export class KeyService {
  readonly #store: Store;
  readonly #config: KeyServiceConfig;
  readonly #adminHash: Buffer | null;
  /** Key hash → its principal (null: revoked) and when it was read. */
  readonly #cache = new Map<string, { id: string; principal: Principal | null; at: number }>();
  readonly #revoked = new Set<(id: string) => void>();
  /** Presented key → its hash (and whether it is the bootstrap admin key). */
  readonly #hashes = new Map<string, { hash: string; admin: boolean }>();

  constructor(store: Store, config: KeyServiceConfig) {
    this.#store = store;
    this.#config = config;
    this.#adminHash = config.adminKey ? Buffer.from(hashKey(config.adminKey), 'hex') : null;
  }

  /** Creates a key; a worker key without `scopes` gets `DEFAULT_WORKER_SCOPES`, an admin key every scope. */
  async create(role: Role, name: string | null, scopes?: readonly Scope[]): Promise<{ id: string; key: string; info: ApiKeyInfo }> {
    const key = KEY_PREFIX + randomBytes(32).toString('base64url');
    const info: ApiKeyInfo = {
      id: newId('key'), name, role, scopes: role === 'admin' ? [...SCOPES] : [...(scopes ?? DEFAULT_WORKER_SCOPES)], prefix: key.slice(0, 10), createdAt: new Date().toISOString(), lastUsedAt: null, revokedAt: null,
    };
    await this.#store.keys.insert({ ...info, hash: hashKey(key) });
    return { id: info.id, key, info };
  }

  list(): Promise<ApiKeyInfo[]> {
    return this.#store.keys.list();
  }

  async revoke(id: string): Promise<void> {
    const ok = await this.#store.keys.revoke(id, new Date().toISOString());
    if (!ok) throw new TaskPulseError('not_found', `no active key ${id}`);
    for (const [h, v] of this.#cache) if (v.id === id) this.#cache.delete(h);
    for (const listener of this.#revoked) listener(id);
  }

  /** Calls `listener` after a key is revoked through this service (open streams re-check at once). */
  onRevoke(listener: (id: string) => void): () => void {
    this.#revoked.add(listener);
    return () => this.#revoked.delete(listener);
  }

  /**
   * The principal a presented key stands for, or null when it is unknown or revoked: at once when
   * the key was looked up less than `cacheMs` ago (the same object each time: a worker sends its
   * key thousands of times a second), else after reading the store.
   */
  verify(key: string): Principal | null | Promise<Principal | null> {
    let seen = this.#hashes.get(key);
    if (seen === undefined) {
      // Hashed once per key, not per request.
      const hash = hashKey(key);
      seen = { hash, admin: this.#adminHash !== null && timingSafeEqual(this.#adminHash, Buffer.from(hash, 'hex')) };
      if (this.#hashes.size >= 10_000) this.#hashes.clear();
      this.#hashes.set(key, seen);
    }
    if (seen.admin) return BOOTSTRAP_ADMIN;
    const now = (this.#config.now ?? Date.now)();
    const cached = this.#cache.get(seen.hash);
    if (cached && now - cached.at < this.#config.cacheMs) return cached.principal;
    return this.#lookUp(seen.hash, now);
  }

  async #lookUp(hash: string, now: number): Promise<Principal | null> {
    const rec = await this.#store.keys.findByHash(hash);
    if (!rec) return null;
    const revoked = rec.revokedAt !== null;
    const principal: Principal | null = revoked ? null
      : rec.role === 'admin' ? { role: 'admin', keyId: rec.id }
      : { role: 'worker', keyId: rec.id, scopes: new Set(rec.scopes) };
    if (this.#cache.size > 10_000) this.#cache.clear();
    this.#cache.set(hash, { id: rec.id, principal, at: now });
    if (!revoked) void this.#store.keys.touch(rec.id, new Date(now).toISOString()).catch(() => {});
    return principal;
  }
}
