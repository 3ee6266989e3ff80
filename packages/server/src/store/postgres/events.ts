/**
 * PostgreSQL: the event log — reading (head and events in one snapshot; compact task events rebuilt
 * from their versions, event-diff.ts), the head and floor, pruning.
 */
import type pg from 'pg';
import { rowsToEvents } from '../event-diff.ts';
import { Params, eventWhere, type Row } from '../sql.ts';
import type { EventFilter, EventStore, StoredEvent } from '../store.ts';
import { POSTGRES } from './dialect.ts';
import type { PgRead } from './tasks.ts';
import { VERSION_REUSE_MS } from './write-tx.ts';

export const EVENT_COLUMNS = 'seq, type, at_ms, task_id, owner, task_type, parent_id, tags, milestone, json';

export class PostgresEvents implements EventStore {
  readonly #read: PgRead;
  readonly #query: (sql: string, params?: unknown[]) => Promise<pg.QueryResult<Row>>;

  constructor(read: PgRead, query: (sql: string, params?: unknown[]) => Promise<pg.QueryResult<Row>>) {
    this.#read = read;
    this.#query = query;
  }

  async read(after: number, filter: EventFilter, limit: number): Promise<{ events: StoredEvent[]; head: number }> {
    // One statement is one snapshot: the head and the events up to it are read together, and a
    // committed head means every event up to it is committed (they commit in one transaction).
    // A compact task event comes with its version's JSON, on the first row that needs it only.
    const p = new Params(POSTGRES);
    const where = [`seq > ${p.add(after)}`, 'seq <= m.head', ...eventWhere(filter, p)];
    const rows = await this.#read(
      `SELECT m.head, e.*, CASE WHEN e.base IS NOT NULL AND row_number() OVER (PARTITION BY e.task_id, e.base ORDER BY e.seq) = 1 THEN v.json END AS version
       FROM taskpulse_meta m LEFT JOIN LATERAL (
         SELECT ${EVENT_COLUMNS}, base FROM events WHERE ${where.join(' AND ')} ORDER BY seq LIMIT ${p.add(limit)}
       ) e ON true
       LEFT JOIN task_versions v ON v.task_id = e.task_id AND v.seq = e.base
       WHERE m.id = 1 ORDER BY e.seq`,
      p.values,
    );
    const head = (rows[0]?.head as number | undefined) ?? 0;
    const events = rows.filter((r) => r.seq !== null);
    return { events: rowsToEvents(events, (_taskId, _base, row) => (row.version as string | null) ?? undefined), head };
  }

  async head(): Promise<number> {
    return ((await this.#read('SELECT head FROM taskpulse_meta WHERE id = 1'))[0]?.head as number | undefined) ?? 0;
  }

  async floor(): Promise<number> {
    const rows = await this.#read('SELECT coalesce((SELECT min(seq) - 1 FROM events), head) AS floor FROM taskpulse_meta WHERE id = 1');
    return (rows[0]?.floor as number | undefined) ?? 0;
  }

  async prune(beforeMs: number): Promise<number> {
    // `at` grows with `seq`: cut the prefix up to the last event older than the cut-off, but always
    // keep the head event so the log never looks empty to a reader. Appends are untouched (seq > head).
    const r = await this.#query(
      `DELETE FROM events WHERE seq <= (SELECT max(seq) FROM events WHERE at_ms < $1)
         AND seq < (SELECT head FROM taskpulse_meta WHERE id = 1)`,
      [beforeMs],
    );
    // A version goes once no retained event refers to it and no instance may still reuse it (each
    // reuses a version for at most VERSION_REUSE_MS of event time: twice that is kept).
    await this.#query(
      `DELETE FROM task_versions v WHERE v.at_ms < $1
         AND NOT EXISTS (SELECT 1 FROM events e WHERE e.task_id = v.task_id AND e.base = v.seq)`,
      [beforeMs - 2 * VERSION_REUSE_MS],
    );
    return r.rowCount ?? 0;
  }
}
