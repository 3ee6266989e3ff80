/**
 * The embedded store: one SQLite file in WAL mode.
 *
 * better-sqlite3 is synchronous, so every statement blocks the event loop. Writes are therefore
 * group-committed: the units that arrive within one turn of the loop are applied in one
 * transaction (each in its own savepoint, so one failure undoes only itself), then answered
 * together. `synchronous=NORMAL` (default) makes a commit survive the process being killed;
 * `FULL` also survives power loss or an OS crash, at the cost of an fsync per commit.
 *
 * Reads use a second connection, so they only ever see committed data.
 */
import { statfsSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import Database from 'better-sqlite3';
import { GroupCommit, type Unit } from '../group-commit.ts';
import { StorageUnavailableError } from '../faults.ts';
import { parseDoc, toStored } from '../records.ts';
import { diffFields, pieceOf, recordJson, splitTaskEvent, type TaskVersion } from '../event-diff.ts';
import type { MaybePromise, Store, StoredEvent, TaskRecord, WriteOptions, WriteTx } from '../store.ts';
import { MIGRATIONS } from './migrations.ts';
import { SqliteWebhooks } from './webhooks.ts';
import { SqliteEvents } from './events.ts';
import { SqliteTasks, queuePosition } from './tasks.ts';
import { SqliteKeys } from './keys.ts';
import { SqliteSettings } from './settings.ts';
import { SqliteNotifications } from './notifications.ts';
import { SqliteHistory } from './history.ts';
import { CHECKPOINT_DEFAULTS, Checkpointer } from './checkpointer.ts';

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
}

export const SQLITE_DEFAULTS = Object.freeze({
  minFreeBytes: 16 * 1024 * 1024,
  maxSizeBytes: null as number | null,
  walLimitBytes: CHECKPOINT_DEFAULTS.truncateBytes,
});

/** A batch that must run again with a savepoint per unit (see `#runBatch`). */
const RUN_AGAIN = Symbol('run again');

/** Thrown inside the readiness probe's unit so the group commit rolls its allocation back. */
const PROBE_DONE = Symbol('probe done');

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
  readonly #writes = new GroupCommit((batch) => this.#commitBatch(batch));
  #head: number;
  #pending: StoredEvent[] = [];
  #listeners = new Set<(events: StoredEvent[]) => void>();
  #closed = false;
  /**
   * This process is the only writer, so the write path keeps the tasks it touched in memory:
   * a report reads its task from here instead of SELECT + JSON.parse, and a task changed several
   * times in one batch is written once, just before COMMIT (or before any query that reads tasks).
   */
  #cache = new Map<string, TaskRecord>();
  #dirty = new Map<string, TaskRecord>();
  /** Cache entries a unit replaced, to put back if the unit is undone. */
  #journal: Map<string, TaskRecord | undefined> | null = null;
  #flushedInUnit: TaskRecord[] | null = null;
  /** What the running batch replaced in the cache and versions (first change of each id), to undo it whole. */
  #batchJournal: Map<string, TaskRecord | undefined> | null = null;
  #batchVersionJournal: Map<string, TaskVersion | undefined> | null = null;
  /** Whether the running unit wrote (a `pure` unit without a savepoint cannot fail after that). */
  #wrote = false;
  /**
   * The version each task's events are stored against (event-diff.ts), and what a unit replaced
   * there, to put back if it is undone. Missing (after a restart, or trimmed): the next event of
   * that task writes a new version.
   */
  #versions = new Map<string, TaskVersion>();
  #versionJournal: Map<string, TaskVersion | undefined> | null = null;
  readonly #tx: WriteTx;
  #checkpointer: Checkpointer | null = null;
  readonly #s: ReturnType<SqliteStore['prepareWrites']>;

  readonly #file: string;
  readonly #minFreeBytes: number;

  constructor(options: SqliteStoreOptions) {
    const minFreeBytes = options.minFreeBytes ?? SQLITE_DEFAULTS.minFreeBytes;
    if (!Number.isSafeInteger(minFreeBytes) || minFreeBytes < 0) throw new Error(`\`minFreeBytes\` must be a non-negative integer, got ${minFreeBytes}`);
    const maxSizeBytes = options.maxSizeBytes ?? SQLITE_DEFAULTS.maxSizeBytes;
    if (maxSizeBytes !== null && (!Number.isSafeInteger(maxSizeBytes) || maxSizeBytes < 65_536)) {
      throw new Error(`\`maxSizeBytes\` must be an integer of at least 65536, got ${maxSizeBytes}`);
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
    this.#head = Math.max(meta.v, max.m ?? 0);
    this.#s = this.prepareWrites();
    // Webhook bookkeeping is small and off the hot path: it uses the write connection directly.
    const write = <T>(fn: () => T) => this.write(fn);
    this.webhooks = new SqliteWebhooks(this.#db, write);
    this.events = new SqliteEvents(this.#db, this.#reader, write, () => this.#head);
    this.tasks = new SqliteTasks(this.#reader, () => this.events.readHead());
    this.keys = new SqliteKeys(this.#db, this.#reader, write);
    this.settings = new SqliteSettings(this.#db, write);
    this.notifications = new SqliteNotifications(this.#reader);
    this.history = new SqliteHistory(this.#reader);
    this.#tx = this.makeTx();
  }

  private prepareWrites() {
    const db = this.#db;
    return {
      getTask: db.prepare('SELECT doc FROM tasks WHERE id = ?').pluck(),
      insertTask: db.prepare(
        'INSERT INTO tasks (id, type, owner, status, parent_id, tags, lease_expires_at, doc) VALUES (?, ?, ?, ?, ?, ?, ?, ?)',
      ),
      updateTask: db.prepare('UPDATE tasks SET status = ?, lease_expires_at = ?, doc = ? WHERE id = ?'),
      insertIdem: db.prepare('INSERT INTO idempotency (scope, key, task_id, fingerprint) VALUES (?, ?, ?, ?)'),
      findIdem: db.prepare('SELECT task_id AS taskId, fingerprint FROM idempotency WHERE scope = ? AND key = ?'),
      nextQueuedAny: db.prepare("SELECT doc FROM tasks WHERE status = 'queued' ORDER BY n LIMIT 1").pluck(),
      expired: db.prepare(
        "SELECT doc FROM tasks WHERE status = 'running' AND lease_expires_at < ? ORDER BY lease_expires_at LIMIT ?",
      ).pluck(),
      insertEvent: db.prepare(
        'INSERT INTO events (seq, type, at_ms, task_id, owner, task_type, parent_id, tags, milestone, json, base) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)',
      ),
      insertVersion: db.prepare('INSERT INTO task_versions (task_id, seq, json) VALUES (?, ?, ?)'),
      insertLog: db.prepare('INSERT INTO logs (task_id, seq, at, level, message) VALUES (?, ?, ?, ?, ?)'),
      insertNotification: db.prepare(
        'INSERT INTO notifications (id, seq, owner, task_id, kind, title, body, created_at, read_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)',
      ),
      recordStageRun: db.prepare('INSERT INTO stage_runs (type, stage, duration_ms, size, ended_at_ms) VALUES (?, ?, ?, ?, ?)'),
      recordEtaCheck: db.prepare('INSERT INTO eta_checks (type, ended_at_ms, checkpoint, error, inside, width) VALUES (?, ?, ?, ?, ?, ?)'),
      // 64 KiB needs new pages: fails with SQLITE_FULL at a size cap or quota (rolled back at once).
      probe: db.prepare("INSERT OR REPLACE INTO settings (name, value) VALUES ('readiness_probe', zeroblob(65536))"),
      savepoint: db.prepare('SAVEPOINT unit'),
      release: db.prepare('RELEASE unit'),
      rollbackTo: db.prepare('ROLLBACK TO unit'),
    };
  }

  private makeTx(): WriteTx {
    const s = this.#s;
    const db = this.#db;
    return {
      getTask: (id) => {
        const hit = this.#cache.get(id);
        if (hit) return hit;
        const rec = parseDoc(s.getTask.get(id));
        if (rec) this.#remember(rec);
        return rec;
      },
      insertTask: (t, idem) => {
        this.#wrote = true;
        s.insertTask.run(t.id, t.type, t.owner, t.status, t.parentId, JSON.stringify(t.tags), t.lease?.expiresAtMs ?? null, recordJson(t));
        if (idem) s.insertIdem.run(idem.scope, idem.key, t.id, idem.fingerprint);
        this.#remember(t);
      },
      updateTask: (t) => {
        this.#wrote = true;
        this.#remember(t);
        this.#dirty.set(t.id, t);
      },
      findIdempotent: (scope, key) => (s.findIdem.get(scope, key) as { taskId: string; fingerprint: string } | undefined) ?? null,
      nextQueued: (types) => {
        this.#flushDirty();
        if (types.length === 0) return parseDoc(s.nextQueuedAny.get());
        const sql = `SELECT doc FROM tasks WHERE status = 'queued' AND type IN (${types.map(() => '?').join(',')}) ORDER BY n LIMIT 1`;
        return parseDoc(db.prepare(sql).pluck().get(...types));
      },
      expiredLeases: (nowMs, limit) => this.#flushDirty() ?? (s.expired.all(nowMs, limit) as string[]).map((d) => JSON.parse(d) as TaskRecord),
      queuePosition: (t) => {
        this.#flushDirty();
        return queuePosition(db, t);
      },
      appendEvent: (e) => {
        this.#wrote = true;
        const seq = ++this.#head;
        const body = e.body(seq);
        let stored: StoredEvent;
        let row: string;
        let base: number | null = null;
        const task = body.task;
        if (e.taskId !== null && task !== null && typeof task === 'object' && Object.keys(body).length === 1) {
          // A task event: stored as its difference from the task's version (event-diff.ts).
          const split = splitTaskEvent(seq, e.type, e.at, e.taskId, task as Record<string, unknown>);
          stored = toStored(seq, e, split.json);
          const version = this.#versions.get(e.taskId);
          const diff = version && !e.milestone ? diffFields(version, split.fields) : null;
          if (diff === null) {
            s.insertVersion.run(e.taskId, seq, split.taskJson);
            this.#setVersion(e.taskId, split.fields);
            base = seq;
            row = '{}';
          } else {
            base = version!.seq;
            row = diff;
          }
        } else {
          stored = toStored(seq, e, JSON.stringify({ seq, type: e.type, at: e.at, taskId: e.taskId, ...body }));
          row = stored.json;
        }
        s.insertEvent.run(seq, e.type, Date.parse(e.at), e.taskId, e.owner, e.taskType, e.parentId, pieceOf('tags', e.tags), e.milestone ? 1 : 0, row, base);
        this.#pending.push(stored);
        return stored;
      },
      insertLog: (taskId, seq, at, level, message) => {
        this.#wrote = true;
        s.insertLog.run(taskId, seq, at, level, message);
      },
      insertNotification: (n) => {
        this.#wrote = true;
        s.insertNotification.run(n.id, n.seq, n.owner, n.taskId, n.kind, n.title, n.body, n.createdAt, n.readAt);
      },
      markNotificationsRead: (owner, sel, readAt) => {
        this.#wrote = true;
        const where = ['owner = ?', 'read_at IS NULL'];
        const params: unknown[] = [owner];
        if (sel.ids) {
          where.push(`id IN (${sel.ids.map(() => '?').join(',') || "''"})`);
          params.push(...sel.ids);
        }
        if (sel.upToSeq !== undefined) {
          where.push('seq <= ?');
          params.push(sel.upToSeq);
        }
        const ids = db.prepare(`SELECT id FROM notifications WHERE ${where.join(' AND ')}`).pluck().all(...params) as string[];
        if (ids.length > 0) {
          db.prepare(`UPDATE notifications SET read_at = ? WHERE id IN (${ids.map(() => '?').join(',')})`).run(readAt, ...ids);
        }
        return ids;
      },
      recordStageRun: (r) => {
        this.#wrote = true;
        s.recordStageRun.run(r.type, r.stage, r.durationMs, r.size, r.endedAtMs);
      },
      recordEtaChecks: (checks) => {
        this.#wrote = true;
        for (const c of checks) s.recordEtaCheck.run(c.type, c.endedAtMs, c.checkpoint, c.error, c.inside === null ? null : c.inside ? 1 : 0, c.width);
      },
    };
  }

  #setVersion(taskId: string, v: TaskVersion): void {
    if (this.#versionJournal && !this.#versionJournal.has(taskId)) this.#versionJournal.set(taskId, this.#versions.get(taskId));
    if (this.#batchVersionJournal && !this.#batchVersionJournal.has(taskId)) this.#batchVersionJournal.set(taskId, this.#versions.get(taskId));
    this.#versions.delete(taskId); // re-insert: Map order is then least recently versioned first
    this.#versions.set(taskId, v);
  }

  #remember(t: TaskRecord): void {
    if (this.#journal && !this.#journal.has(t.id)) this.#journal.set(t.id, this.#cache.get(t.id));
    if (this.#batchJournal && !this.#batchJournal.has(t.id)) this.#batchJournal.set(t.id, this.#cache.get(t.id));
    this.#cache.delete(t.id); // re-insert: Map order is then least recently written first
    this.#cache.set(t.id, t);
  }

  #flushDirty(): undefined {
    for (const t of this.#dirty.values()) {
      this.#s.updateTask.run(t.status, t.lease?.expiresAtMs ?? null, recordJson(t), t.id);
      this.#flushedInUnit?.push(t);
    }
    this.#dirty.clear();
    return undefined;
  }

  #trimCache(): void {
    let extra = this.#versions.size - 20_000;
    if (extra > 0) {
      for (const id of this.#versions.keys()) {
        if (extra-- <= 0) break;
        this.#versions.delete(id);
      }
    }
    const excess = this.#cache.size - 20_000;
    if (excess <= 0) return;
    let n = 0;
    for (const id of this.#cache.keys()) {
      if (n++ >= excess) break;
      this.#cache.delete(id);
    }
  }

  write<T>(fn: (tx: WriteTx) => MaybePromise<T>, options?: WriteOptions): Promise<T> {
    if (this.#closed) return Promise.reject(new StorageUnavailableError('the store is closed'));
    return this.#writes.write(fn, options);
  }

  async #commitBatch(batch: Unit[]): Promise<void> {
    if ((await this.#runBatch(batch, true)) === RUN_AGAIN) await this.#runBatch(batch, false);
  }

  /**
   * One transaction for the batch. Each unit runs in a savepoint, so one failure undoes only
   * itself — except, when `optimistic`, a `pure` unit (WriteOptions.pure): it runs without one
   * (two statements and three allocations less per report). Should such a unit fail after it
   * wrote, the whole transaction is rolled back and the caller runs the batch again with savepoints.
   */
  async #runBatch(batch: Unit[], optimistic: boolean): Promise<typeof RUN_AGAIN | void> {
    const outcomes: { ok: boolean; value: unknown }[] = [];
    const batchHead = this.#head;
    this.#pending = [];
    const batchCache = (this.#batchJournal = new Map());
    const batchVersions = (this.#batchVersionJournal = new Map());
    const undoBatch = () => {
      for (const [id, prev] of batchCache) {
        if (prev) this.#cache.set(id, prev);
        else this.#cache.delete(id);
      }
      for (const [id, prev] of batchVersions) {
        if (prev) this.#versions.set(id, prev);
        else this.#versions.delete(id);
      }
      this.#dirty.clear();
      this.#head = batchHead;
      this.#pending = [];
    };
    try {
      this.#db.exec('BEGIN IMMEDIATE');
      for (const unit of batch) {
        if (optimistic && unit.pure) {
          this.#wrote = false;
          try {
            outcomes.push({ ok: true, value: await unit.fn(this.#tx) });
          } catch (error) {
            if (this.#wrote) {
              // Nothing to return to: undo the batch; it runs again with savepoints.
              if (this.#db.inTransaction) this.#db.exec('ROLLBACK');
              undoBatch();
              return RUN_AGAIN;
            }
            outcomes.push({ ok: false, value: error });
          }
          continue;
        }
        const unitHead = this.#head;
        const unitEvents = this.#pending.length;
        const journal = (this.#journal = new Map());
        const versionJournal = (this.#versionJournal = new Map<string, TaskVersion | undefined>());
        const flushed: TaskRecord[] = (this.#flushedInUnit = []);
        this.#s.savepoint.run();
        try {
          const value = await unit.fn(this.#tx);
          this.#s.release.run();
          outcomes.push({ ok: true, value });
        } catch (error) {
          // On SQLITE_FULL, IOERR, NOMEM… SQLite may roll the whole transaction back by itself:
          // then there is no savepoint to return to, and the batch fails with that error.
          if (!this.#db.inTransaction) throw error;
          this.#s.rollbackTo.run();
          this.#s.release.run();
          // Rows of earlier units flushed during this unit were rolled back with it: write them again.
          for (const rec of flushed) if (!journal.has(rec.id)) this.#dirty.set(rec.id, this.#cache.get(rec.id) ?? rec);
          // Undo the unit in memory too; seq stays dense: an undone unit gives its numbers back.
          for (const [id, prev] of journal) {
            if (prev) {
              this.#cache.set(id, prev);
              this.#dirty.set(id, prev);
            } else {
              this.#cache.delete(id);
              this.#dirty.delete(id);
            }
          }
          for (const [id, prev] of versionJournal) {
            if (prev) this.#versions.set(id, prev);
            else this.#versions.delete(id);
          }
          this.#head = unitHead;
          this.#pending.length = unitEvents;
          outcomes.push({ ok: false, value: error });
        } finally {
          this.#journal = null;
          this.#versionJournal = null;
          this.#flushedInUnit = null;
        }
      }
      this.#flushDirty();
      this.#db.exec('COMMIT');
      this.#trimCache();
    } catch (error) {
      if (this.#db.inTransaction) this.#db.exec('ROLLBACK');
      this.#journal = null;
      this.#versionJournal = null;
      this.#versions.clear();
      this.#cache.clear();
      this.#dirty.clear();
      this.#head = batchHead;
      this.#pending = [];
      for (const unit of batch) unit.reject(error);
      return;
    } finally {
      this.#batchJournal = null;
      this.#batchVersionJournal = null;
    }
    const committed = this.#pending;
    this.#pending = [];
    if (committed.length > 0) for (const l of this.#listeners) l(committed);
    for (let i = 0; i < outcomes.length; i++) {
      const o = outcomes[i]!;
      if (o.ok) batch[i]!.resolve(o.value);
      else batch[i]!.reject(o.value);
    }
  }

  onCommit(listener: (events: StoredEvent[]) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
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
      this.#s.probe.run();
      throw PROBE_DONE;
    }).catch((error: unknown) => {
      if (error !== PROBE_DONE) throw error;
    });
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    // Let queued writes finish before closing.
    await this.#writes.drain();
    this.#closed = true;
    await this.#checkpointer?.close();
    if (this.#reader !== this.#db) this.#reader.close();
    this.#db.close();
  }
}

function migrate(db: Database.Database): void {
  const version = db.pragma('user_version', { simple: true }) as number;
  for (let v = version; v < MIGRATIONS.length; v++) {
    db.transaction(() => {
      db.exec(MIGRATIONS[v]!);
      db.pragma(`user_version = ${v + 1}`);
    })();
  }
}
