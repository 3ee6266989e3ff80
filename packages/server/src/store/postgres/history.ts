/** PostgreSQL: what finished — stage runs, ETA scores, finished tasks — for ETAs and /v1/stats. */
import { Params } from '../sql.ts';
import type { EtaCheck, FinishedTask, HistoryStore, StageRun } from '../store.ts';
import { POSTGRES } from './dialect.ts';
import type { PgRead } from './tasks.ts';

export class PostgresHistory implements HistoryStore {
  readonly #read: PgRead;

  constructor(read: PgRead) {
    this.#read = read;
  }

  async stageRuns(type: string, limit: number): Promise<StageRun[]> {
    return (await this.#read(
      `SELECT type, stage, duration_ms AS "durationMs", size, ended_at_ms AS "endedAtMs" FROM stage_runs
       WHERE type = $1 ORDER BY ended_at_ms DESC LIMIT $2`,
      [type, limit],
    )) as unknown as StageRun[];
  }

  async stageRunsSince(sinceMs: number, type: string | undefined, limit: number): Promise<StageRun[]> {
    const p = new Params(POSTGRES);
    const where = [`ended_at_ms >= ${p.add(sinceMs)}`];
    if (type !== undefined) where.push(`type = ${p.add(type)}`);
    return (await this.#read(
      `SELECT type, stage, duration_ms AS "durationMs", size, ended_at_ms AS "endedAtMs" FROM stage_runs
       WHERE ${where.join(' AND ')} ORDER BY ended_at_ms DESC LIMIT ${p.add(limit)}`,
      p.values,
    )) as unknown as StageRun[];
  }

  async etaChecksSince(sinceMs: number, type: string | undefined, limit: number): Promise<EtaCheck[]> {
    const p = new Params(POSTGRES);
    const where = [`ended_at_ms >= ${p.add(sinceMs)}`];
    if (type !== undefined) where.push(`type = ${p.add(type)}`);
    return (await this.#read(
      `SELECT type, ended_at_ms AS "endedAtMs", checkpoint, error, inside, width FROM eta_checks
       WHERE ${where.join(' AND ')} ORDER BY ended_at_ms DESC LIMIT ${p.add(limit)}`,
      p.values,
    )) as unknown as EtaCheck[];
  }

  async finishedSince(sinceMs: number, type: string | undefined, limit: number): Promise<FinishedTask[]> {
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
