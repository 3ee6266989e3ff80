/** PostgreSQL: what finished — stage runs and ETA scores (sql.ts, shared), finished tasks — for ETAs and /v1/stats. */
import { Params, SqlHistoryReads } from '../sql.ts';
import type { FinishedTask, HistoryStore } from '../store.ts';
import { POSTGRES } from './dialect.ts';
import type { PgRead } from './tasks.ts';

export class PostgresHistory extends SqlHistoryReads implements HistoryStore {
  readonly #read: PgRead;

  constructor(read: PgRead) {
    super(POSTGRES, read);
    this.#read = read;
  }

  async finishedSince(sinceMs: number, type: string | undefined, limit: number): Promise<FinishedTask[]> {
    // The document is parsed once per finished task (a subquery), then filtered and sorted by its end time.
    const p = new Params(POSTGRES);
    const rows = await this.#read(
      `SELECT type, status, d->>'endedAt' AS "endedAt", d->'error'->>'code' AS "errorCode", d->'error'->>'message' AS "errorMessage"
       FROM (SELECT type, status, doc::jsonb AS d FROM tasks WHERE status IN ('completed', 'failed', 'canceled')
             ${type !== undefined ? `AND type = ${p.add(type)}` : ''}) t
       WHERE d->>'endedAt' >= ${p.add(new Date(sinceMs).toISOString())} ORDER BY d->>'endedAt' DESC LIMIT ${p.add(limit)}`,
      p.values,
    );
    return rows as unknown as FinishedTask[];
  }
}
