/**
 * The PostgreSQL store: the source of truth when several stateless server instances run together.
 *
 * Ordering (DESIGN.md, "Ordering under concurrent writers"): every write transaction starts by
 * locking the one row of `taskpulse_meta` (`SELECT head … FOR UPDATE`) and only then assigns seqs
 * (head + 1, head + 2, …), writing the new head before `COMMIT`. The row lock is held until
 * commit, so transactions — from every instance — commit one after another, in seq order: seq N+1
 * can never be visible before N. A reader reads `head` and the events up to it in one statement
 * (one snapshot), so it never sees a hole. An undone unit gives its seqs back (dense log).
 *
 * Because the lock is taken first, before any task row, writers cannot deadlock on task rows
 * (a child report locking its parent after appending would otherwise cross a parent report).
 *
 * Group commit: the units queued while a transaction runs go into the next one, each unit in its
 * own savepoint, taken lazily before its first statement that changes data: a progress report
 * costs one round trip (`SELECT … FOR UPDATE` of its task); task rows and events are written for
 * the whole batch in one statement each, just before `COMMIT` (or before a query that reads tasks).
 */
import pg from 'pg';
import { GroupCommit, type Unit } from '../group-commit.ts';
import { StorageUnavailableError } from '../faults.ts';
import { parseDoc, toStored } from '../records.ts';
import { Params, type Row } from '../sql.ts';
import type { MaybePromise, Store, StoredEvent, TaskRecord, WriteOptions, WriteTx } from '../store.ts';
import { migrate, quoteIdent } from './migrations.ts';
import { PostgresWebhooks } from './webhooks.ts';
import { EVENT_COLUMNS, PostgresEvents } from './events.ts';
import { PostgresTasks, queuePosition } from './tasks.ts';
import { PostgresKeys } from './keys.ts';
import { PostgresSettings } from './settings.ts';
import { PostgresNotifications } from './notifications.ts';
import { PostgresHistory } from './history.ts';
import { POSTGRES } from './dialect.ts';

export interface PostgresStoreOptions {
  /** `postgres://user@host:5432/db`; `?options=-c search_path=…` picks a schema. */
  connectionString: string;
  /** Use (and create when missing) this schema instead of the connection's default. @defaultValue null */
  schema?: string | null;
  /** Connections in the pool (reads, webhooks, and one at a time for the write batch). @defaultValue 10 */
  poolSize?: number;
  /**
   * PostgreSQL ends a session that sits idle inside a transaction this long (ms). A write
   * transaction holds the cluster-wide head lock, so this bounds what one frozen or cut-off
   * instance costs every other instance: their writes wait at most this long. @defaultValue 2000
   */
  idleInTransactionTimeoutMs?: number;
  /** A statement waiting for a lock (the head lock included) gives up after this long (ms) → 503. @defaultValue 5000 */
  lockTimeoutMs?: number;
  /** PostgreSQL cancels a statement running longer than this (ms) → 503. @defaultValue 10000 */
  statementTimeoutMs?: number;
  /**
   * This process gives up on a query the server has not answered in this long (ms) and drops the
   * connection: the bound when the server itself is frozen or cut off. @defaultValue 15000
   */
  queryTimeoutMs?: number;
  /** Connecting gives up after this long (ms). @defaultValue 5000 */
  connectTimeoutMs?: number;
}

/**
 * Timeouts, shortest first: a frozen holder's transaction is ended after 2 s; a writer queued
 * behind a live but slow holder waits up to 5 s for the lock; a statement runs at most 10 s; this
 * process waits at most 15 s for an answer — all below the SDKs' 30 s request timeout, so a client
 * gets a clean 503 it can retry rather than a timeout with an unknown outcome.
 */
export const POSTGRES_DEFAULTS = Object.freeze({
  poolSize: 10,
  idleInTransactionTimeoutMs: 2000,
  lockTimeoutMs: 5000,
  statementTimeoutMs: 10_000,
  queryTimeoutMs: 15_000,
  connectTimeoutMs: 5000,
});

/** bigint columns (seq, ms, counts) come back as numbers: they stay far below 2^53. */
const TYPES = {
  getTypeParser: ((oid: number, format?: string) =>
    oid === 20 ? (v: string) => Number(v) : pg.types.getTypeParser(oid, format as 'text')) as pg.CustomTypesConfig['getTypeParser'],
};

export class PostgresStore implements Store {
  readonly kind = 'postgres' as const;
  readonly events: PostgresEvents;
  readonly tasks: PostgresTasks;
  readonly keys: PostgresKeys;
  readonly settings: PostgresSettings;
  readonly notifications: PostgresNotifications;
  readonly history: PostgresHistory;
  readonly webhooks: PostgresWebhooks;
  readonly #pool: pg.Pool;
  readonly #ready: Promise<void>;
  readonly #writes = new GroupCommit((batch) => this.#commitBatch(batch));
  #closed = false;
  #listeners = new Set<(events: StoredEvent[]) => void>();
  readonly #tx: WriteTx;

  // State of the running batch (valid only while it holds the head lock).
  #client: pg.PoolClient | null = null;
  #head = 0;
  #pending: StoredEvent[] = [];
  /** Tasks read or written in this batch: no other writer can change them while we hold the lock. */
  #cache = new Map<string, TaskRecord>();
  #dirty = new Map<string, TaskRecord>();
  #journal: Map<string, TaskRecord | undefined> | null = null;
  #flushedInUnit: TaskRecord[] | null = null;
  #inUnit = false;
  #savepoint = false;
  /** A statement failed outside a savepoint: the transaction is lost, the whole batch is undone. */
  #broken: unknown = null;

  /** Opens the pool and applies migrations; rejects when the database is unreachable. */
  static async open(options: PostgresStoreOptions): Promise<PostgresStore> {
    const store = new PostgresStore(options);
    try {
      await store.#ready;
    } catch (error) {
      await store.#pool.end().catch(() => {});
      throw error;
    }
    return store;
  }

  /** Usable at once: every call waits for the migrations. Prefer `PostgresStore.open()`. */
  constructor(options: PostgresStoreOptions) {
    if (typeof options.connectionString !== 'string' || options.connectionString === '') {
      throw new Error('`connectionString` must be a PostgreSQL URL');
    }
    const o = { ...POSTGRES_DEFAULTS, ...Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined)) };
    if (!Number.isInteger(o.poolSize) || o.poolSize < 2) throw new Error(`\`poolSize\` must be an integer of at least 2, got ${o.poolSize}`);
    for (const k of ['idleInTransactionTimeoutMs', 'lockTimeoutMs', 'statementTimeoutMs', 'queryTimeoutMs', 'connectTimeoutMs'] as const) {
      if (!Number.isInteger(o[k]) || o[k] < 100) throw new Error(`\`${k}\` must be an integer of at least 100 (ms), got ${o[k]}`);
    }
    const schema = options.schema ?? null;
    const pool = (this.#pool = new pg.Pool({
      connectionString: options.connectionString,
      max: o.poolSize,
      types: TYPES,
      keepAlive: true,
      keepAliveInitialDelayMillis: 10_000,
      // An unreachable database fails requests (503, retried by clients) instead of queueing them forever.
      connectionTimeoutMillis: o.connectTimeoutMs,
      // Sent as startup parameters (no extra round trip); see POSTGRES_DEFAULTS for why these values.
      idle_in_transaction_session_timeout: o.idleInTransactionTimeoutMs,
      lock_timeout: o.lockTimeoutMs,
      statement_timeout: o.statementTimeoutMs,
      query_timeout: o.queryTimeoutMs,
    }));
    // An idle connection that breaks emits here; the pool drops it and opens a new one when needed.
    this.#pool.on('error', () => {});
    this.#pool.on('connect', (client) => {
      // A checked-out client has no listener of the pool's: a connection that breaks between two
      // queries (server restart, pg_terminate_backend, idle-in-transaction timeout) would emit an
      // unhandled 'error' and crash the process. The query that next uses it fails instead (→ 503)
      // and the client is released as broken.
      client.on('error', () => {});
      // Queries queue on a client in order, so this runs before anything the client is used for.
      if (schema !== null) void client.query(`SET search_path TO ${quoteIdent(schema)}`).catch(() => {});
    });
    this.#ready = (async () => {
      const client = await pool.connect();
      try {
        await migrate(client, schema);
      } finally {
        client.release();
      }
    })();
    this.#ready.catch(() => {}); // surfaced by open() and by every call
    this.webhooks = new PostgresWebhooks(this.#pool, this.#ready);
    const query = async (sql: string, params?: unknown[]) => {
      await this.#ready;
      return this.#pool.query<Row>(sql, params);
    };
    const read = async (sql: string, params?: unknown[]) => (await query(sql, params)).rows;
    this.events = new PostgresEvents(read, query);
    this.tasks = new PostgresTasks(read);
    this.keys = new PostgresKeys(query);
    this.settings = new PostgresSettings(read);
    this.notifications = new PostgresNotifications(read);
    this.history = new PostgresHistory(read);
    this.#tx = this.#makeTx();
  }

  // ------------------------------------------------------------ the write path

  #makeTx(): WriteTx {
    return {
      getTask: async (id) => {
        const hit = this.#cache.get(id);
        if (hit) return hit;
        const { rows } = await this.#q('SELECT doc FROM tasks WHERE id = $1 FOR UPDATE', [id]);
        const rec = parseDoc(rows[0]?.doc);
        if (rec) this.#remember(rec);
        return rec;
      },
      insertTask: async (t, idem) => {
        await this.#change(
          'INSERT INTO tasks (id, type, owner, status, parent_id, tags, lease_expires_at, doc) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)',
          [t.id, t.type, t.owner, t.status, t.parentId, JSON.stringify(t.tags), t.lease?.expiresAtMs ?? null, JSON.stringify(t)],
        );
        if (idem) {
          await this.#change('INSERT INTO idempotency (scope, key, task_id, fingerprint) VALUES ($1, $2, $3, $4)', [
            idem.scope, idem.key, t.id, idem.fingerprint,
          ]);
        }
        this.#remember(t);
      },
      updateTask: (t) => {
        this.#remember(t);
        this.#dirty.set(t.id, t);
      },
      findIdempotent: async (scope, key) => {
        const { rows } = await this.#q('SELECT task_id AS "taskId", fingerprint FROM idempotency WHERE scope = $1 AND key = $2', [scope, key]);
        return (rows[0] as { taskId: string; fingerprint: string } | undefined) ?? null;
      },
      nextQueued: async (types) => {
        await this.#flushDirty();
        const { rows } =
          types.length === 0
            ? await this.#q("SELECT doc FROM tasks WHERE status = 'queued' ORDER BY n LIMIT 1 FOR UPDATE")
            : await this.#q("SELECT doc FROM tasks WHERE status = 'queued' AND type = ANY($1) ORDER BY n LIMIT 1 FOR UPDATE", [types]);
        return this.#fresh(parseDoc(rows[0]?.doc));
      },
      expiredLeases: async (nowMs, limit) => {
        await this.#flushDirty();
        const { rows } = await this.#q(
          "SELECT doc FROM tasks WHERE status = 'running' AND lease_expires_at < $1 ORDER BY lease_expires_at LIMIT $2 FOR UPDATE",
          [nowMs, limit],
        );
        return rows.map((r) => this.#fresh(parseDoc(r.doc))!);
      },
      queuePosition: async (t) => {
        await this.#flushDirty();
        return queuePosition(async (sql, params) => (await this.#q(sql, params)).rows, t);
      },
      appendEvent: (e) => {
        // We hold the head lock: this number is ours, and commits happen in this order.
        const stored = toStored(++this.#head, e);
        this.#pending.push(stored);
        return stored;
      },
      insertLog: async (taskId, seq, at, level, message) => {
        await this.#change('INSERT INTO logs (task_id, seq, at, level, message) VALUES ($1, $2, $3, $4, $5)', [taskId, seq, at, level, message]);
      },
      insertNotification: async (n) => {
        await this.#change(
          'INSERT INTO notifications (id, seq, owner, task_id, kind, title, body, created_at, read_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)',
          [n.id, n.seq, n.owner, n.taskId, n.kind, n.title, n.body, n.createdAt, n.readAt],
        );
      },
      markNotificationsRead: async (owner, sel, readAt) => {
        const p = new Params(POSTGRES);
        const where = [`owner = ${p.add(owner)}`, 'read_at IS NULL'];
        if (sel.ids) where.push(`id = ANY(${p.add(sel.ids)})`);
        if (sel.upToSeq !== undefined) where.push(`seq <= ${p.add(sel.upToSeq)}`);
        const { rows } = await this.#change(
          `UPDATE notifications SET read_at = ${p.add(readAt)} WHERE id IN (SELECT id FROM notifications WHERE ${where.join(' AND ')} ORDER BY seq) RETURNING id, seq`,
          p.values,
        );
        return (rows as { id: string; seq: number }[]).sort((a, b) => a.seq - b.seq).map((r) => r.id);
      },
      recordStageRun: async (r) => {
        await this.#change('INSERT INTO stage_runs (type, stage, duration_ms, size, ended_at_ms) VALUES ($1, $2, $3, $4, $5)', [
          r.type, r.stage, r.durationMs, r.size, r.endedAtMs,
        ]);
      },
      recordEtaChecks: async (checks) => {
        if (checks.length === 0) return;
        const p = new Params(POSTGRES);
        const rows = checks.map((c) => `(${[c.type, c.endedAtMs, c.checkpoint, c.error, c.inside, c.width].map((v) => p.add(v)).join(', ')})`);
        await this.#change(`INSERT INTO eta_checks (type, ended_at_ms, checkpoint, error, inside, width) VALUES ${rows.join(', ')}`, p.values);
      },
    };
  }

  /** A row just read from the database: the batch's newer copy wins (it was flushed, so they agree). */
  #fresh(rec: TaskRecord | null): TaskRecord | null {
    if (!rec) return null;
    return this.#cache.get(rec.id) ?? (this.#remember(rec), rec);
  }

  #remember(t: TaskRecord): void {
    if (this.#journal && !this.#journal.has(t.id)) this.#journal.set(t.id, this.#cache.get(t.id));
    this.#cache.set(t.id, t);
  }

  /** A statement in the batch's transaction. */
  async #q(sql: string, params?: unknown[]): Promise<pg.QueryResult<Row>> {
    if (this.#broken) throw this.#broken;
    try {
      return await this.#client!.query<Row>(sql, params);
    } catch (error) {
      if (!this.#savepoint) this.#broken = error;
      throw error;
    }
  }

  /** A statement that changes data: inside a unit, it runs after the unit's savepoint. */
  async #change(sql: string, params?: unknown[]): Promise<pg.QueryResult<Row>> {
    if (this.#inUnit && !this.#savepoint) {
      await this.#q('SAVEPOINT unit');
      this.#savepoint = true;
    }
    return this.#q(sql, params);
  }

  async #flushDirty(): Promise<void> {
    if (this.#dirty.size === 0) return;
    const rows = [...this.#dirty.values()];
    this.#dirty.clear();
    await this.#change(
      `UPDATE tasks SET status = v.status, lease_expires_at = v.lease, doc = v.doc
       FROM unnest($1::text[], $2::text[], $3::bigint[], $4::text[]) AS v(id, status, lease, doc) WHERE tasks.id = v.id`,
      [rows.map((t) => t.id), rows.map((t) => t.status), rows.map((t) => t.lease?.expiresAtMs ?? null), rows.map((t) => JSON.stringify(t))],
    );
    this.#flushedInUnit?.push(...rows);
  }

  async #insertEvents(events: StoredEvent[]): Promise<void> {
    if (events.length === 0) return;
    await this.#q(
      `INSERT INTO events (${EVENT_COLUMNS})
       SELECT s, ty, a, ti, o, tt, p, tg::jsonb, m, j
       FROM unnest($1::bigint[], $2::text[], $3::bigint[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::bool[], $10::text[])
         AS v(s, ty, a, ti, o, tt, p, tg, m, j)`,
      [
        events.map((e) => e.seq), events.map((e) => e.type), events.map((e) => Date.parse(e.at)), events.map((e) => e.taskId),
        events.map((e) => e.owner), events.map((e) => e.taskType), events.map((e) => e.parentId), events.map((e) => JSON.stringify(e.tags)),
        events.map((e) => e.milestone), events.map((e) => e.json),
      ],
    );
  }

  write<T>(fn: (tx: WriteTx) => MaybePromise<T>, options?: WriteOptions): Promise<T> {
    if (this.#closed) return Promise.reject(new StorageUnavailableError('the store is closed'));
    return this.#writes.write(fn, options);
  }

  /** Loads the tasks the batch's units said they will read, in one round trip instead of one each. */
  async #prefetch(batch: Unit[]): Promise<void> {
    const ids = new Set<string>();
    for (const unit of batch) if (unit.tasks) for (const id of unit.tasks) ids.add(id);
    if (ids.size < 2) return;
    const { rows } = await this.#q('SELECT doc FROM tasks WHERE id = ANY($1) FOR UPDATE', [[...ids]]);
    for (const r of rows) {
      const rec = parseDoc(r.doc);
      if (rec) this.#remember(rec);
    }
  }

  async #commitBatch(batch: Unit[]): Promise<void> {
    const outcomes: { ok: boolean; value: unknown }[] = [];
    let client: pg.PoolClient | null = null;
    let committed: StoredEvent[];
    this.#pending = [];
    this.#cache.clear();
    this.#dirty.clear();
    this.#broken = null;
    try {
      await this.#ready;
      client = this.#client = await this.#pool.connect();
      await this.#q('BEGIN');
      // The write lock of the whole cluster: held until COMMIT, so commit order is seq order.
      const { rows } = await this.#q('SELECT head FROM taskpulse_meta WHERE id = 1 FOR UPDATE');
      const batchHead = (this.#head = rows[0]!.head as number);
      await this.#prefetch(batch);
      for (const unit of batch) {
        const unitHead = this.#head;
        const unitEvents = this.#pending.length;
        const journal = (this.#journal = new Map());
        const flushed: TaskRecord[] = (this.#flushedInUnit = []);
        this.#inUnit = true;
        this.#savepoint = false;
        try {
          const value = await unit.fn(this.#tx);
          if (this.#broken) throw this.#broken;
          if (this.#savepoint) await this.#q('RELEASE SAVEPOINT unit');
          outcomes.push({ ok: true, value });
        } catch (error) {
          if (this.#broken) throw this.#broken;
          if (this.#savepoint) await this.#q('ROLLBACK TO SAVEPOINT unit; RELEASE SAVEPOINT unit');
          // Rows of earlier units flushed during this unit were rolled back with it: write them again.
          for (const rec of flushed) if (!journal.has(rec.id)) this.#dirty.set(rec.id, this.#cache.get(rec.id) ?? rec);
          for (const [id, prev] of journal) {
            if (prev) {
              this.#cache.set(id, prev);
              this.#dirty.set(id, prev);
            } else {
              this.#cache.delete(id);
              this.#dirty.delete(id);
            }
          }
          // seq stays dense: an undone unit gives its numbers back.
          this.#head = unitHead;
          this.#pending.length = unitEvents;
          outcomes.push({ ok: false, value: error });
        } finally {
          this.#inUnit = false;
          this.#savepoint = false;
          this.#journal = null;
          this.#flushedInUnit = null;
        }
      }
      await this.#flushDirty();
      await this.#insertEvents(this.#pending);
      if (this.#head !== batchHead) await this.#q('UPDATE taskpulse_meta SET head = $1 WHERE id = 1', [this.#head]);
      await this.#q('COMMIT');
      committed = this.#pending;
    } catch (error) {
      const cause = this.#broken ?? error;
      // A broken connection is dropped below; the server rolls its transaction back when it goes.
      // (Sending ROLLBACK down it could only wait for the query timeout.)
      if (client && !(cause instanceof Error && isConnectionError(cause))) await client.query('ROLLBACK').catch(() => {});
      for (const unit of batch) unit.reject(cause);
      return;
    } finally {
      this.#client = null;
      this.#pending = [];
      this.#cache.clear();
      this.#dirty.clear();
      // A connection that failed mid-transaction is not given back to the pool.
      client?.release(this.#broken instanceof Error && isConnectionError(this.#broken) ? this.#broken : undefined);
      this.#broken = null;
    }
    if (committed.length > 0) for (const l of this.#listeners) l(committed);
    outcomes.forEach((o, i) => (o.ok ? batch[i]!.resolve(o.value) : batch[i]!.reject(o.value)));
  }

  onCommit(listener: (events: StoredEvent[]) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  // ------------------------------------------------------------ reads (pool, committed data only)

  async #read(sql: string, params?: unknown[]): Promise<Row[]> {
    await this.#ready;
    return (await this.#pool.query<Row>(sql, params)).rows;
  }

  /**
   * Rejects unless PostgreSQL answers and can allocate space. `SELECT 1` still answers on a full
   * disk, so the probe writes: it creates a temporary table (a new file, in the database's
   * tablespace) and inserts a row, which extends that file by a page — something no free space
   * left in existing pages can satisfy, so a full volume fails it with 53100 — and then rolls
   * back to a savepoint (a PL/pgSQL block that catches its own error: nothing is kept, nothing is
   * logged, one round trip).
   */
  async ping(): Promise<void> {
    await this.#read(READINESS_PROBE);
  }

  #closing: Promise<void> | null = null;

  close(): Promise<void> {
    return (this.#closing ??= (async () => {
      // Let queued writes finish before closing.
      await this.#writes.drain();
      this.#closed = true;
      await this.#pool.end();
    })());
  }
}

const READINESS_PROBE = `DO $probe$ BEGIN
  BEGIN
    CREATE TEMPORARY TABLE taskpulse_readiness_probe (b text);
    INSERT INTO taskpulse_readiness_probe VALUES ('probe');
    RAISE EXCEPTION USING ERRCODE = 'TPRB0';
  EXCEPTION WHEN SQLSTATE 'TPRB0' THEN NULL;
  END;
END $probe$`;

function isConnectionError(e: Error): boolean {
  // SQLSTATE class 08 (connection exception), 57P0x (admin shutdown), 25P03 (idle-in-transaction
  // timeout: the server ended the session), or no SQLSTATE at all (a socket error, or this
  // process's query timeout, after which the connection's next answer would be the late one).
  const code = (e as { code?: unknown }).code;
  return typeof code !== 'string' || code.startsWith('08') || code.startsWith('57P') || code === '25P03' || code.startsWith('E');
}
