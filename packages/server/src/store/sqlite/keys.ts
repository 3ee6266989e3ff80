/** SQLite: API keys. Writes go through the store's group commit, so they never land inside another batch. */
import type Database from 'better-sqlite3';
import type { ApiKeyInfo } from '@taskpulse/protocol';
import { keyFromRow, type KeyRow } from '../records.ts';
import type { KeyRecord, KeyStore } from '../store.ts';

export class SqliteKeys implements KeyStore {
  readonly #db: Database.Database;
  readonly #reader: Database.Database;
  readonly #write: <T>(fn: () => T) => Promise<T>;

  constructor(db: Database.Database, reader: Database.Database, write: <T>(fn: () => T) => Promise<T>) {
    this.#db = db;
    this.#reader = reader;
    this.#write = write;
  }

  async insert(k: KeyRecord): Promise<void> {
    await this.#write(() =>
      this.#db
        .prepare('INSERT INTO api_keys (id, name, role, prefix, hash, created_at, last_used_at, revoked_at, scopes) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)')
        .run(k.id, k.name, k.role, k.prefix, k.hash, k.createdAt, k.lastUsedAt, k.revokedAt, JSON.stringify(k.scopes)),
    );
  }

  async list(): Promise<ApiKeyInfo[]> {
    return (this.#reader
      .prepare(
        'SELECT id, name, role, scopes, prefix, created_at AS createdAt, last_used_at AS lastUsedAt, revoked_at AS revokedAt FROM api_keys ORDER BY created_at',
      )
      .all() as KeyRow<ApiKeyInfo>[]).map(keyFromRow);
  }

  async findByHash(hash: string): Promise<KeyRecord | null> {
    const row = this.#reader
      .prepare(
        'SELECT id, name, role, scopes, prefix, hash, created_at AS createdAt, last_used_at AS lastUsedAt, revoked_at AS revokedAt FROM api_keys WHERE hash = ?',
      )
      .get(hash) as KeyRow<KeyRecord> | undefined;
    return row ? keyFromRow(row) : null;
  }

  async revoke(id: string, at: string): Promise<boolean> {
    return this.#write(() => this.#db.prepare('UPDATE api_keys SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL').run(at, id).changes > 0);
  }

  async touch(id: string, at: string): Promise<void> {
    await this.#write(() => this.#db.prepare('UPDATE api_keys SET last_used_at = ? WHERE id = ?').run(at, id));
  }
}
