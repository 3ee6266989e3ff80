/** SQLite: what finished — stage runs and ETA scores (sql.ts, shared), finished tasks — for ETAs and /v1/stats. */
import type Database from 'better-sqlite3';
import { SqlHistoryReads } from '../sql.ts';
import type { FinishedTask, HistoryStore } from '../store.ts';
import { SQLITE } from './dialect.ts';
import { runOn } from './tasks.ts';

export class SqliteHistory extends SqlHistoryReads implements HistoryStore {
  readonly #reader: Database.Database;

  constructor(reader: Database.Database) {
    super(SQLITE, runOn(reader));
    this.#reader = reader;
  }

  async finishedSince(sinceMs: number, type: string | undefined, limit: number): Promise<FinishedTask[]> {
    // Finished tasks are found by status (indexed), then by the end time in their document.
    return this.#reader
      .prepare(
        `SELECT type, status, json_extract(doc, '$.endedAt') AS endedAt, json_extract(doc, '$.error.code') AS errorCode,
                json_extract(doc, '$.error.message') AS errorMessage
         FROM tasks WHERE status IN ('completed', 'failed', 'canceled') ${type !== undefined ? 'AND type = ?' : ''}
           AND json_extract(doc, '$.endedAt') >= ? ORDER BY endedAt DESC LIMIT ?`,
      )
      .all(...(type !== undefined ? [type] : []), new Date(sinceMs).toISOString(), limit) as FinishedTask[];
  }
}
