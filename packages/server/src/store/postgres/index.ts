/**
 * The PostgreSQL store: the source of truth when several stateless server instances run together.
 * Writes are units of work (unit-of-work.ts) group-committed under the cluster-wide head lock
 * (unit-of-work-port.ts: why commit order is seq order); reads use the pool and see committed
 * data only (a reader reads `head` and the events up to it in one statement, so it never sees a
 * hole). An undone unit gives its seqs back (dense log).
 */
import pg from 'pg';
import { StorageUnavailableError } from '../faults.ts';
import type { Row } from '../sql.ts';
import type { MaybePromise, Store, StoredEvent, WriteOptions, WriteTx } from '../store.ts';
import { JournaledMap, UnitOfWork } from '../unit-of-work.ts';
import type { TaskVersion } from '../event-diff.ts';
import { migrate, quoteIdent } from './migrations.ts';
import { PostgresPort } from './unit-of-work-port.ts';
import { postgresWriteTx } from './write-tx.ts';
import { PostgresWebhooks } from './webhooks.ts';
import { PostgresEvents } from './events.ts';
import { PostgresTasks } from './tasks.ts';
import { PostgresKeys } from './keys.ts';
import { PostgresSettings } from './settings.ts';
import { PostgresNotifications } from './notifications.ts';
import { PostgresHistory } from './history.ts';
import { PostgresTaskInputs } from './task-docs.ts';

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

/** Event-diff versions kept in memory between batches. */
const KEEP_VERSIONS = 20_000;

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
  readonly #uow: UnitOfWork;
  #closed = false;

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
    const inputs = new PostgresTaskInputs();
    const port = new PostgresPort(this.#pool, this.#ready, inputs);
    /**
     * The version each task's events are stored against (event-diff.ts), undone with its unit.
     * Unlike task rows, a version stays valid while another instance writes the task: its row
     * is never changed, and pruning keeps it while it may be reused (VERSION_REUSE_MS).
     */
    const versions = new JournaledMap<TaskVersion>(KEEP_VERSIONS);
    this.#uow = new UnitOfWork(port, { savepoints: 'lazy', pureWithoutSavepoint: false, keepTasks: 0 }, [versions as JournaledMap<unknown>, inputs.known]);
    port.bind(this.#uow);
    this.#uow.use(postgresWriteTx(port, this.#uow, versions, inputs));
  }

  write<T>(fn: (tx: WriteTx) => MaybePromise<T>, options?: WriteOptions): Promise<T> {
    if (this.#closed) return Promise.reject(new StorageUnavailableError('the store is closed'));
    return this.#uow.write(fn, options);
  }

  onCommit(listener: (events: StoredEvent[]) => void): () => void {
    return this.#uow.onCommit(listener);
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
      await this.#uow.drain();
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
