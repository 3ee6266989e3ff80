/** PostgreSQL: API keys. */
import type pg from 'pg';
import type { ApiKeyInfo } from '@taskpulse/protocol';
import { keyFromRow, type KeyRow } from '../records.ts';
import type { Row } from '../sql.ts';
import type { KeyRecord, KeyStore } from '../store.ts';

export class PostgresKeys implements KeyStore {
  readonly #query: (sql: string, params?: unknown[]) => Promise<pg.QueryResult<Row>>;

  constructor(query: (sql: string, params?: unknown[]) => Promise<pg.QueryResult<Row>>) {
    this.#query = query;
  }

  async insert(k: KeyRecord): Promise<void> {
    await this.#query(
      'INSERT INTO api_keys (id, name, role, prefix, hash, created_at, last_used_at, revoked_at, scopes) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)',
      [k.id, k.name, k.role, k.prefix, k.hash, k.createdAt, k.lastUsedAt, k.revokedAt, JSON.stringify(k.scopes)],
    );
  }

  async list(): Promise<ApiKeyInfo[]> {
    return ((await this.#query(
      `SELECT id, name, role, scopes, prefix, created_at AS "createdAt", last_used_at AS "lastUsedAt", revoked_at AS "revokedAt"
       FROM api_keys ORDER BY created_at`,
    )).rows as unknown as KeyRow<ApiKeyInfo>[]).map(keyFromRow);
  }

  async findByHash(hash: string): Promise<KeyRecord | null> {
    const { rows } = await this.#query(
      `SELECT id, name, role, scopes, prefix, hash, created_at AS "createdAt", last_used_at AS "lastUsedAt", revoked_at AS "revokedAt"
       FROM api_keys WHERE hash = $1`,
      [hash],
    );
    const row = rows[0] as unknown as KeyRow<KeyRecord> | undefined;
    return row ? keyFromRow(row) : null;
  }

  async revoke(id: string, at: string): Promise<boolean> {
    const r = await this.#query('UPDATE api_keys SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL', [at, id]);
    return (r.rowCount ?? 0) > 0;
  }

  async touch(id: string, at: string): Promise<void> {
    await this.#query('UPDATE api_keys SET last_used_at = $1 WHERE id = $2', [at, id]);
  }
}
