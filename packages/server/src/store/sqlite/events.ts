/**
 * SQLite: the event log — reading (compact task events rebuilt from their versions,
 * event-diff.ts), the head and floor, pruning. Reads see committed data only.
 */
import type Database from 'better-sqlite3';
import { rowsToEvents } from '../event-diff.ts';
import type { Row } from '../sql.ts';
import type { EventFilter, EventStore, StoredEvent } from '../store.ts';
import { keyedOf, readEventRows } from './event-keys.ts';
import { prepared } from './statements.ts';

export class SqliteEvents implements EventStore {
  readonly #db: Database.Database;
  readonly #reader: Database.Database;
  readonly #write: <T>(fn: () => T) => Promise<T>;
  readonly #writerHead: () => number;

  /**
   * `db` is the write connection, used only inside `write` (the store's group commit);
   * `writerHead` is the head the write path has reached.
   */
  constructor(db: Database.Database, reader: Database.Database, write: <T>(fn: () => T) => Promise<T>, writerHead: () => number) {
    this.#db = db;
    this.#reader = reader;
    this.#write = write;
    this.#writerHead = writerHead;
  }

  async read(after: number, filter: EventFilter, limit: number): Promise<{ events: StoredEvent[]; head: number }> {
    return this.#reader.transaction(() => {
      const head = this.readHead();
      const rows = readEventRows(this.#reader, after, head, keyedOf(this.#reader), filter, limit);
      return { events: this.#rowsToEvents(rows), head };
    })();
  }

  /** Stored rows → events, rebuilding compact task events from their versions. */
  #rowsToEvents(rows: Row[]): StoredEvent[] {
    const get = prepared(this.#reader, 'SELECT json FROM task_versions WHERE task_id = ? AND seq = ?').pluck(true);
    return rowsToEvents(rows, (taskId, base) => get.get(taskId, base) as string | undefined);
  }

  /**
   * The head is the newest event: seqs are dense and pruning always keeps the newest, so no commit
   * writes a head row (one page less per commit). `meta.head` only covers a log that has no
   * events (a new file) or one written before this.
   */
  readHead(): number {
    return (prepared(this.#reader, "SELECT max(coalesce((SELECT max(seq) FROM events), 0), (SELECT v FROM meta WHERE k = 'head'))").pluck(true).get() as number) ?? 0;
  }

  async head(): Promise<number> {
    return this.readHead();
  }

  async floor(): Promise<number> {
    const min = prepared(this.#reader, 'SELECT min(seq) FROM events').pluck(true).get() as number | null;
    return min === null ? this.readHead() : min - 1;
  }

  async prune(beforeMs: number): Promise<number> {
    return this.#write(() => {
      // `at` grows with `seq`, so binary-search the last seq older than the cut-off (no index on at_ms needed).
      const atOf = this.#db.prepare('SELECT at_ms FROM events WHERE seq >= ? ORDER BY seq LIMIT 1').pluck();
      let lo = (this.#db.prepare('SELECT min(seq) FROM events').pluck().get() as number | null) ?? 0;
      // Always keep the head event so the log never looks empty to a reader (the head row is the floor).
      let hi = this.#writerHead() - 1;
      let cut = lo - 1;
      while (lo <= hi) {
        const mid = Math.floor((lo + hi) / 2);
        const at = atOf.get(mid) as number | undefined;
        if (at !== undefined && at < beforeMs) {
          cut = mid;
          lo = mid + 1;
        } else hi = mid - 1;
      }
      if (cut <= 0) return 0;
      // The keys of the pruned events (event-keys.ts), found per task and owner: a range each.
      this.#db.prepare('DELETE FROM events_by_task WHERE k IN (SELECT DISTINCT task_id FROM events WHERE seq <= ?) AND s <= ?').run(cut, cut);
      this.#db.prepare('DELETE FROM events_by_owner WHERE k IN (SELECT DISTINCT owner FROM events WHERE seq <= ?) AND s <= ?').run(cut, cut);
      const n = this.#db.prepare('DELETE FROM events WHERE seq <= ?').run(cut).changes;
      // A version is needed while a retained event may refer to it: until a later version of the
      // same task is itself at or below the cut.
      this.#db
        .prepare(
          `DELETE FROM task_versions WHERE seq <= ? AND EXISTS (
             SELECT 1 FROM task_versions w WHERE w.task_id = task_versions.task_id AND w.seq > task_versions.seq AND w.seq <= ?)`,
        )
        .run(cut, cut);
      return n;
    });
  }
}
