/**
 * The embedded store: one SQLite file in WAL mode.
 *
 * better-sqlite3 is synchronous, so every statement blocks the event loop. Writes are therefore
 * group-committed (unit-of-work.ts): the units that arrive within one turn of the loop are applied
 * in one transaction (each in its own savepoint, so one failure undoes only itself), then answered
 * together. This process is the only writer, so the tasks the write path touched stay in memory
 * between batches: a report reads its task from there instead of SELECT + JSON.parse. A commit
 * appends to the log and little else: a running task's progress row is written behind it
 * (deferred-rows.ts) and the log's per-task keys in bulk (event-keys.ts), so a report dirties few
 * pages. `synchronous=NORMAL` (default) makes a commit survive the process being killed;
 * `FULL` also survives power loss or an OS crash, at the cost of an fsync per commit.
 *
 * Reads use a second connection, so they only ever see committed data.
 */
import { statfsSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import Database from 'better-sqlite3';
import { StorageUnavailableError } from '../faults.ts';
import type { TaskVersion } from '../event-diff.ts';
import type { MaybePromise, Store, StoredEvent, WriteOptions, WriteTx } from '../store.ts';
import { JournaledMap, UnitOfWork } from '../unit-of-work.ts';
import { migrate } from './migrations.ts';
import { SqlitePort } from './unit-of-work-port.ts';
import { sqliteWriteTx } from './write-tx.ts';
import { SqliteWebhooks } from './webhooks.ts';
import { SqliteEvents } from './events.ts';
import { SqliteTasks } from './tasks.ts';
import { SqliteKeys } from './keys.ts';
import { SqliteSettings } from './settings.ts';
import { SqliteNotifications } from './notifications.ts';
import { SqliteHistory } from './history.ts';
import { CHECKPOINT_DEFAULTS, Checkpointer } from './checkpointer.ts';
import { TaskDocs, TaskInputs } from './task-docs.ts';
import { EventKeys } from './event-keys.ts';
import { DEFER_MS, DeferredRows, recoverRows } from './deferred-rows.ts';

export interface SqliteStoreOptions {
  /** Path of the database file; `:memory:` for a throwaway store. */
  file: string;
  /** `NORMAL` survives a killed process; `FULL` also survives power loss. @defaultValue 'NORMAL' */
  synchronous?: 'NORMAL' | 'FULL';
  /**
   * `ping()` (hence `/readyz`) fails when the volume holding the file has less than this many
   * bytes free: a full disk fails writes with 503 anyway, and a load balancer should stop sending
   * work before that. @defaultValue 16 MiB
   */
  minFreeBytes?: number;
  /** A hard cap on the database file (SQLite `max_page_count`); writes past it answer 503. @defaultValue null (none) */
  maxSizeBytes?: number | null;
  /** The WAL file is checkpointed and truncated once it passes this size (see checkpointer.ts). @defaultValue 16 MiB */
  walLimitBytes?: number;
  /** Events written before the log's per-task and per-owner keys are (event-keys.ts); tests set it small. @defaultValue 2048 */
  keyBatch?: number;
}

export const SQLITE_DEFAULTS = Object.freeze({
  minFreeBytes: 16 * 1024 * 1024,
  maxSizeBytes: null as number | null,
  walLimitBytes: CHECKPOINT_DEFAULTS.truncateBytes,
});

/** Thrown inside the readiness probe's unit so the group commit rolls its allocation back. */
const PROBE_DONE = Symbol('probe done');

/** Task records and event-diff versions kept in memory between batches. */
const KEEP = 20_000;

export class SqliteStore implements Store {
  readonly kind = 'sqlite' as const;
  readonly events: SqliteEvents;
  readonly tasks: SqliteTasks;
  readonly keys: SqliteKeys;
  readonly settings: SqliteSettings;
  readonly notifications: SqliteNotifications;
  readonly history: SqliteHistory;
  readonly webhooks: SqliteWebhooks;
  readonly #db: Database.Database;
  readonly #reader: Database.Database;
  readonly #uow: UnitOfWork;
  readonly #probe: Database.Statement;
  #closed = false;
  #checkpointer: Checkpointer | null = null;
  readonly #rows: DeferredRows;
  readonly #rowTimer: NodeJS.Timeout;
  readonly #file: string;
  readonly #minFreeBytes: number;

  constructor(options: SqliteStoreOptions) {
    const minFreeBytes = options.minFreeBytes ?? SQLITE_DEFAULTS.minFreeBytes;
    if (!Number.isSafeInteger(minFreeBytes) || minFreeBytes < 0) throw new Error(`\`minFreeBytes\` must be a non-negative integer, got ${minFreeBytes}`);
    const maxSizeBytes = options.maxSizeBytes ?? SQLITE_DEFAULTS.maxSizeBytes;
    if (maxSizeBytes !== null && (!Number.isSafeInteger(maxSizeBytes) || maxSizeBytes < 65_536)) {
      throw new Error(`\`maxSizeBytes\` must be an integer of at least 65536, got ${maxSizeBytes}`);
    }
    if (options.keyBatch !== undefined && (!Number.isSafeInteger(options.keyBatch) || options.keyBatch < 1)) {
      throw new Error(`\`keyBatch\` must be a positive integer, got ${options.keyBatch}`);
    }
    this.#file = options.file;
    this.#minFreeBytes = minFreeBytes;
    this.#db = new Database(options.file);
    this.#db.pragma('journal_mode = WAL');
    this.#db.pragma(`synchronous = ${options.synchronous === 'FULL' ? 'FULL' : 'NORMAL'}`);
    this.#db.pragma('busy_timeout = 5000');
    // A larger page cache keeps hot task rows and index pages in memory (64 MiB).
    this.#db.pragma('cache_size = -65536');
    migrate(this.#db);
    if (maxSizeBytes !== null) {
      const pageSize = this.#db.pragma('page_size', { simple: true }) as number;
      this.#db.pragma(`max_page_count = ${Math.floor(maxSizeBytes / pageSize)}`);
    }
    this.#reader = options.file === ':memory:' ? this.#db : new Database(options.file, { readonly: true });
    if (options.file !== ':memory:') {
      const walLimitBytes = options.walLimitBytes ?? SQLITE_DEFAULTS.walLimitBytes;
      if (!Number.isSafeInteger(walLimitBytes) || walLimitBytes < 65_536) throw new Error(`\`walLimitBytes\` must be an integer of at least 65536, got ${walLimitBytes}`);
      this.#checkpointer = new Checkpointer(options.file, { truncateBytes: walLimitBytes });
      this.#db.pragma('wal_autocheckpoint = 16384'); // ~64 MiB: only if the checkpoint thread is gone
      // Whenever SQLite rewinds the WAL it also trims the file back to this size.
      this.#db.pragma(`journal_size_limit = ${walLimitBytes}`);
    }
    if (this.#reader !== this.#db) this.#reader.pragma('busy_timeout = 5000');
    const meta = this.#db.prepare("SELECT v FROM meta WHERE k = 'head'").get() as { v: number };
    const max = this.#db.prepare('SELECT max(seq) AS m FROM events').get() as { m: number | null };
    /**
     * The version each task's events are stored against (event-diff.ts), undone with its unit.
     * Missing (after a restart, or trimmed): the next event of that task writes a new version.
     */
    const versions = new JournaledMap<TaskVersion>(KEEP);
    const inputs = new TaskInputs(this.#db);
    // Rows a crash left behind their log (deferred-rows.ts) are brought up to it before anything reads them.
    recoverRows(this.#db, new TaskDocs(this.#db), inputs);
    const head = Math.max(meta.v, max.m ?? 0);
    const rows = (this.#rows = new DeferredRows(this.#db, inputs));
    this.#uow = new UnitOfWork(
      new SqlitePort(this.#db, inputs, new EventKeys(this.#db, options.keyBatch), rows, head),
      { savepoints: 'eager', pureWithoutSavepoint: true, keepTasks: KEEP, head },
      [versions as JournaledMap<unknown>],
    );
    this.#uow.use(sqliteWriteTx(this.#db, this.#uow, versions, inputs, rows));
    // Deferred rows are written by the commits that follow them; when none follows, by this.
    this.#rowTimer = setInterval(() => {
      if (rows.due(Date.now())) this.#writeDeferred().catch(() => {}); // a failed write leaves them deferred: the next tick tries again
    }, DEFER_MS / 4).unref();
    // 64 KiB needs new pages: fails with SQLITE_FULL at a size cap or quota (rolled back at once).
    this.#probe = this.#db.prepare("INSERT OR REPLACE INTO settings (name, value) VALUES ('readiness_probe', zeroblob(65536))");
    // Small writes outside the task path (keys, settings, webhooks, pruning) use the write
    // connection directly, through the group commit, so they never land inside another batch.
    const write = <T>(fn: () => T) => this.write(fn);
    this.webhooks = new SqliteWebhooks(this.#db, write);
    this.events = new SqliteEvents(this.#db, this.#reader, write, () => this.#uow.head);
    this.tasks = new SqliteTasks(this.#reader, () => this.events.readHead(), rows, () => this.#writeDeferred());
    this.keys = new SqliteKeys(this.#db, this.#reader, write);
    this.settings = new SqliteSettings(this.#db, write);
    this.notifications = new SqliteNotifications(this.#reader);
    this.history = new SqliteHistory(this.#reader);
  }

  write<T>(fn: (tx: WriteTx) => MaybePromise<T>, options?: WriteOptions): Promise<T> {
    if (this.#closed) return Promise.reject(new StorageUnavailableError('the store is closed'));
    return this.#uow.write(fn, options);
  }

  /** Writes every row the write path has deferred (deferred-rows.ts). */
  #writeDeferred(): Promise<void> {
    return this.write(() => this.#rows.requestWriteAll());
  }

  onCommit(listener: (events: StoredEvent[]) => void): () => void {
    return this.#uow.onCommit(listener);
  }

  /** Rejects unless the file is readable, its volume keeps `minFreeBytes` free and new pages can be allocated. */
  async ping(): Promise<void> {
    if (this.#closed) throw new StorageUnavailableError('the store is closed');
    this.#reader.prepare('SELECT 1').get();
    if (this.#file !== ':memory:' && this.#minFreeBytes > 0) {
      const fs = statfsSync(dirname(resolve(this.#file)));
      const free = fs.bavail * fs.bsize;
      if (free < this.#minFreeBytes) throw new StorageUnavailableError(`disk full (${free} bytes free)`);
    }
    await this.write(() => {
      this.#probe.run();
      throw PROBE_DONE;
    }).catch((error: unknown) => {
      if (error !== PROBE_DONE) throw error;
    });
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    // Let queued writes finish, and the deferred rows be written, before closing.
    clearInterval(this.#rowTimer);
    await this.#uow.drain();
    if (this.#rows.size > 0) await this.#writeDeferred().catch(() => {}); // the log has them: the next open recovers them
    this.#closed = true;
    await this.#checkpointer?.close();
    if (this.#reader !== this.#db) this.#reader.close();
    this.#db.close();
  }
}
