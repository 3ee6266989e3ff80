/** SQLite: what finished — stage runs, ETA scores, finished tasks — for ETAs and /v1/stats. */
import type Database from 'better-sqlite3';
import type { EtaCheck, FinishedTask, HistoryStore, StageRun } from '../store.ts';

export class SqliteHistory implements HistoryStore {
  readonly #reader: Database.Database;

  constructor(reader: Database.Database) {
    this.#reader = reader;
  }

  async stageRuns(type: string, limit: number): Promise<StageRun[]> {
    return this.#reader
      .prepare(
        'SELECT type, stage, duration_ms AS durationMs, size, ended_at_ms AS endedAtMs FROM stage_runs WHERE type = ? ORDER BY ended_at_ms DESC LIMIT ?',
      )
      .all(type, limit) as StageRun[];
  }

  async stageRunsSince(sinceMs: number, type: string | undefined, limit: number): Promise<StageRun[]> {
    return this.#reader
      .prepare(
        `SELECT type, stage, duration_ms AS durationMs, size, ended_at_ms AS endedAtMs FROM stage_runs
         WHERE ended_at_ms >= ? ${type !== undefined ? 'AND type = ?' : ''} ORDER BY ended_at_ms DESC LIMIT ?`,
      )
      .all(sinceMs, ...(type !== undefined ? [type] : []), limit) as StageRun[];
  }

  async etaChecksSince(sinceMs: number, type: string | undefined, limit: number): Promise<EtaCheck[]> {
    const rows = this.#reader
      .prepare(
        `SELECT type, ended_at_ms AS endedAtMs, checkpoint, error, inside, width FROM eta_checks
         WHERE ended_at_ms >= ? ${type !== undefined ? 'AND type = ?' : ''} ORDER BY ended_at_ms DESC LIMIT ?`,
      )
      .all(sinceMs, ...(type !== undefined ? [type] : []), limit) as (Omit<EtaCheck, 'inside'> & { inside: number | null })[];
    return rows.map((r) => ({ ...r, inside: r.inside === null ? null : r.inside === 1 }));
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
