/**
 * Storage faults: errors that say the storage is unavailable for now (disk full, I/O error,
 * database down or unreachable, a connection cut, a lock or statement timeout), as opposed to a
 * bug. The HTTP layer answers a request that meets one with 503 `unavailable` and `retry-after`
 * (http/errors.ts; API.md: "a dependency that is down is a 503, never 500"), which every SDK retries.
 */

/** SQLite result codes (primary, `SQLITE_IOERR_*` etc. included by prefix) that are faults of the disk or the moment. */
const SQLITE_FAULTS: [prefix: string, reason: string][] = [
  ['SQLITE_FULL', 'disk full'],
  ['SQLITE_IOERR', 'disk I/O error'],
  ['SQLITE_BUSY', 'database busy'],
  ['SQLITE_LOCKED', 'database locked'],
  ['SQLITE_CANTOPEN', 'database file cannot be opened'],
  ['SQLITE_NOMEM', 'out of memory'],
  ['SQLITE_READONLY', 'database is read-only'],
  ['SQLITE_PROTOCOL', 'database lock protocol error'],
];

/** PostgreSQL SQLSTATE classes and codes that are faults of the server or the connection. */
const PG_FAULTS: [prefix: string, reason: string][] = [
  ['08', 'connection lost'], // connection exception
  ['57P01', 'server shutting down'], // admin_shutdown (also pg_terminate_backend)
  ['57P02', 'server crashed'], // crash_shutdown
  ['57P03', 'server starting up'], // cannot_connect_now
  ['57P05', 'idle session timeout'],
  ['57014', 'statement timeout'], // query_canceled (statement_timeout)
  ['55P03', 'lock timeout'], // lock_not_available (lock_timeout)
  ['25P03', 'idle-in-transaction timeout'],
  ['53100', 'disk full'], // disk_full: a file could not be extended
  ['53', 'server out of resources'], // out of memory, too many connections
  ['58', 'server I/O error'], // system error
  ['40001', 'serialization failure'],
  ['40P01', 'deadlock'],
];

/** Socket errors (Node `code`) meaning the database cannot be reached. */
const NET_FAULTS = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN', 'ENOSPC', 'EIO']);

/** Messages of `pg`/`pg-pool` for a connection that broke or could not be had. */
const PG_MESSAGES = [
  /^Connection terminated/,
  /^timeout exceeded when trying to connect/,
  /^Query read timeout/,
  /not queryable/,
  /^Client was closed and is not queryable/,
  /^Cannot use a pool after calling end/,
];

/**
 * A short reason (`"disk full"`, `"connection lost"`) when `error` is a storage fault, else null.
 * Follows `cause` chains, so a wrapped fault is still recognized.
 */
export function storageFault(error: unknown): string | null {
  for (let e = error, depth = 0; e && typeof e === 'object' && depth < 5; e = (e as { cause?: unknown }).cause, depth++) {
    if (e instanceof StorageUnavailableError) return e.reason;
    const code = (e as { code?: unknown }).code;
    const message = String((e as { message?: unknown }).message ?? '');
    if (typeof code === 'string') {
      if (code.startsWith('SQLITE_')) return SQLITE_FAULTS.find(([p]) => code.startsWith(p))?.[1] ?? null;
      if (NET_FAULTS.has(code)) return `unreachable (${code})`;
      if (/^[0-9A-Z]{5}$/.test(code)) {
        const hit = PG_FAULTS.find(([p]) => code.startsWith(p));
        if (hit) return `${hit[1]} (${code})`;
        return null; // another SQLSTATE: a bug in a statement, not a fault
      }
    }
    if (PG_MESSAGES.some((m) => m.test(message))) return 'connection lost';
    if ((e as AggregateError).errors && Array.isArray((e as AggregateError).errors)) {
      // Node's happy-eyeballs connect fails with an AggregateError of ECONNREFUSED per address.
      const inner = (e as AggregateError).errors.map(storageFault).find((r) => r !== null);
      if (inner) return inner;
    }
  }
  return null;
}

/** Thrown by a store that knows it cannot serve (closed, disk below its reserve). */
export class StorageUnavailableError extends Error {
  readonly reason: string;
  constructor(reason: string, options?: { cause?: unknown }) {
    super(`storage is unavailable: ${reason}`, options);
    this.name = 'StorageUnavailableError';
    this.reason = reason;
  }
}
