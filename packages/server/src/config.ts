/**
 * Server options (what a user passes) and config (defaults resolved and validated once).
 * Every option has an environment variable; see `taskpulse serve --help` and API.md.
 */
import type { Bus } from './bus/bus.ts';
import type { Store } from './store/store.ts';

export interface ServerOptions {
  /** @defaultValue '127.0.0.1' */
  host?: string;
  /** 0 picks a free port. @defaultValue 8080 */
  port?: number;
  /** SQLite file. @defaultValue './taskpulse.db' */
  db?: string;
  /** PostgreSQL URL; replaces `db`. */
  databaseUrl?: string | null;
  /** Redis URL for the bus between instances. */
  redisUrl?: string | null;
  /** Redis pub/sub channel shared by the instances of one deployment. @defaultValue 'taskpulse:events' */
  redisChannel?: string;
  /** Signs viewer tokens; generated and stored in the database on first start when absent. */
  secret?: string | null;
  /** Accepted as an admin key (bootstrap). */
  adminKey?: string | null;
  /** Verify viewer tokens from the app's identity provider against this JWKS as well. */
  jwksUrl?: string | null;
  /** @defaultValue 5000 */
  heartbeatMs?: number;
  /** Default lease. @defaultValue 30000 */
  leaseMs?: number;
  /** Origins allowed to call the API from a browser. @defaultValue [] (same origin only) */
  corsOrigins?: string[];
  /**
   * Addresses or CIDR ranges of your reverse proxies: a request arriving from one of them is
   * taken to come from the client its `X-Forwarded-For` names (per-IP rate limits, logs). Never
   * list addresses that untrusted clients can connect from. @defaultValue [] (the socket's address)
   */
  trustProxy?: string[];
  /** `FULL` also survives power loss; `NORMAL` survives a killed process. @defaultValue 'NORMAL' */
  sqliteSynchronous?: 'NORMAL' | 'FULL';
  /** How often expired leases are looked for. @defaultValue 1000 */
  reaperIntervalMs?: number;
  /** How often `health` is re-assessed. @defaultValue 5000 */
  healthIntervalMs?: number;
  /** Events older than this are pruned. @defaultValue 7 days */
  retentionMs?: number;
  /** `retry:` sent on every stream. @defaultValue 1000 */
  streamRetryMs?: number;
  /** A stream whose unsent bytes pass this is closed. @defaultValue 4 MiB */
  streamBufferBytes?: number;
  /** Streams are closed after this long with a `retry:` hint; 0 = never. @defaultValue 0 */
  streamMaxMs?: number;
  /**
   * A stream whose reader takes no bytes for this long while bytes wait for it is closed (it
   * stopped reading; live, catching up or coalescing alike). @defaultValue 30000
   */
  streamStallMs?: number;
  /** Rate limits count requests in fixed windows of this length. @defaultValue 60000 */
  rateLimitWindowMs?: number;
  /** `/v1/` requests per window per credential (API key, viewer, staff); 0 = no limit. @defaultValue 600000 */
  rateLimitPerCredential?: number;
  /** `/v1/` requests per window per client IP (the socket's address); 0 = no limit. @defaultValue 1200000 */
  rateLimitPerIp?: number;
  /** Stream opens per window per credential; 0 = no limit. @defaultValue 6000 */
  rateLimitStreamsPerCredential?: number;
  /** Stream opens per window per client IP; 0 = no limit. @defaultValue 30000 */
  rateLimitStreamsPerIp?: number;
  /** Prefix of the rate-limit counters' keys in Redis (with `redisUrl`). @defaultValue 'taskpulse:ratelimit:' */
  rateLimitRedisPrefix?: string;
  /** Request body limit. @defaultValue 1 MiB */
  bodyLimitBytes?: number;
  /** Default lifetime of minted viewer tokens. @defaultValue 3600 */
  tokenTtlSeconds?: number;
  /** First webhook retry delay; later ones double (full jitter, capped at 5 min). @defaultValue 1000 */
  webhookRetryBaseMs?: number;
  /** pino level; 'silent' for tests. @defaultValue 'info' */
  logLevel?: string;
  /** Directory of extra pages to serve (the demo's example pages), looked up before the dashboard. */
  staticDir?: string | null;
  /**
   * Directory of the built dashboard, served at `/` as a single-page app: an unknown GET path
   * outside the API answers its index.html (client-side routes such as `/tasks/<id>`).
   */
  dashboardDir?: string | null;
  /** With `dashboardDir` lacking an index.html: `/` answers this (how to build it) with a 503. */
  dashboardMissingHint?: string | null;
  /** Inject a store or bus (tests, embedding). */
  store?: Store;
  bus?: Bus;
  /**
   * Inject a clock (tests), in milliseconds since the epoch. Read by the token service (issue and
   * expiry of viewer and staff tokens), the key cache, the stream hub (heartbeats, the stall
   * rule, maximum stream lifetime, credential expiry and re-checks, head checks) and the task
   * pieces (leases, health deadlines, ETAs, queue estimates), so a test expires a token, a stream
   * or a lease without waiting — and a standing clock keeps them from expiring on a slow machine.
   * @defaultValue Date.now
   */
  now?: () => number;
}

export const DEFAULTS = Object.freeze({
  host: '127.0.0.1',
  port: 8080,
  db: './taskpulse.db',
  redisChannel: 'taskpulse:events' as string,
  heartbeatMs: 5000,
  leaseMs: 30_000,
  reaperIntervalMs: 1000,
  healthIntervalMs: 5000,
  retentionMs: 7 * 24 * 3600 * 1000,
  streamRetryMs: 1000,
  streamBufferBytes: 4 * 1024 * 1024,
  streamMaxMs: 0,
  streamStallMs: 30_000,
  bodyLimitBytes: 1024 * 1024,
  // Generous: a runaway client is stopped, no real workload is (a benchmark's one key drives
  // thousands of requests a second). Set real limits for your traffic.
  rateLimitWindowMs: 60_000,
  rateLimitPerCredential: 600_000,
  rateLimitPerIp: 1_200_000,
  rateLimitStreamsPerCredential: 6_000,
  rateLimitStreamsPerIp: 30_000,
  rateLimitRedisPrefix: 'taskpulse:ratelimit:' as string,
  tokenTtlSeconds: 3600,
  webhookRetryBaseMs: 1000,
  logLevel: 'info',
  sqliteSynchronous: 'NORMAL' as 'NORMAL' | 'FULL',

  // Tunables that are not options: named here, with their units, rather than scattered as numbers.
  /** A stream with more unsent bytes than this is lagging (a coalescing stream keeps only each task's latest change). */
  streamLagBytes: 64 * 1024,
  /** Events per store read while a stream catches up (readers at nearby cursors share pages of this size). */
  streamPageSize: 500,
  /**
   * With a bus between instances, the hub compares the store's head with its own this often: a
   * lost message is otherwise only noticed when the next one shows the gap (bus.crossInstance).
   */
  streamHeadCheckMs: 1000,
  /** Every open stream's credential is checked again this often (a key revoked on another instance or by the CLI). */
  credentialCheckMs: 5000,
  /** How long a verified API key (or its revocation) is believed before the store is asked again. */
  keyCacheMs: 5000,
  /** Announced bodies over `bodyLimitBytes` up to this size (or 4× the limit) are drained before the 413. */
  oversizeDrainBytes: 16 * 1024 * 1024,
  /** Health deadlines are checked this often (at most; never less often than `healthIntervalMs`). */
  deadlineCheckMs: 250,
  /** Old events are pruned this often (at most; more often when `retentionMs` is shorter). */
  pruneIntervalMs: 3_600_000,
  /** The webhook outbox is looked at this often (at most: `webhookRetryBaseMs` if shorter, never under 50 ms). */
  webhookTickMs: 1000,
  /** On close, requests in flight get this long before the connections still open are cut. */
  closeGraceMs: 5000,
});

export type ServerConfig = typeof DEFAULTS & {
  databaseUrl: string | null;
  redisUrl: string | null;
  secret: string | null;
  adminKey: string | null;
  jwksUrl: string | null;
  corsOrigins: string[];
  trustProxy: string[];
  staticDir: string | null;
  dashboardDir: string | null;
  dashboardMissingHint: string | null;
};

export function resolveConfig(o: ServerOptions): ServerConfig {
  const c: ServerConfig = {
    ...DEFAULTS,
    ...Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined && typeof v !== 'object')),
    databaseUrl: o.databaseUrl ?? null,
    redisUrl: o.redisUrl ?? null,
    secret: o.secret ?? null,
    adminKey: o.adminKey ?? null,
    jwksUrl: o.jwksUrl ?? null,
    corsOrigins: o.corsOrigins ?? [],
    trustProxy: o.trustProxy ?? [],
    staticDir: o.staticDir ?? null,
    dashboardDir: o.dashboardDir ?? null,
    dashboardMissingHint: o.dashboardMissingHint ?? null,
  } as ServerConfig;
  const ints: [keyof ServerConfig, number, number][] = [
    ['port', 0, 65535], ['heartbeatMs', 100, 600_000], ['leaseMs', 1000, 3_600_000], ['reaperIntervalMs', 10, 600_000],
    ['healthIntervalMs', 10, 3_600_000], ['retentionMs', 1000, Number.MAX_SAFE_INTEGER], ['streamRetryMs', 0, 600_000],
    ['streamBufferBytes', 1024, 1 << 30], ['streamMaxMs', 0, 7 * 24 * 3600 * 1000], ['streamStallMs', 100, 3_600_000], ['bodyLimitBytes', 1024, 1 << 30],
    ['tokenTtlSeconds', 1, 30 * 24 * 3600], ['webhookRetryBaseMs', 10, 3_600_000],
    ['rateLimitWindowMs', 1000, 24 * 3600 * 1000], ['rateLimitPerCredential', 0, 1e12], ['rateLimitPerIp', 0, 1e12],
    ['rateLimitStreamsPerCredential', 0, 1e12], ['rateLimitStreamsPerIp', 0, 1e12],
    ['streamLagBytes', 1024, 1 << 30], ['streamPageSize', 1, 100_000], ['streamHeadCheckMs', 10, 3_600_000],
    ['credentialCheckMs', 0, 3_600_000], ['keyCacheMs', 0, 3_600_000], ['oversizeDrainBytes', 0, 1 << 30],
    ['deadlineCheckMs', 10, 3_600_000], ['pruneIntervalMs', 1000, Number.MAX_SAFE_INTEGER], ['webhookTickMs', 50, 3_600_000],
    ['closeGraceMs', 0, 3_600_000],
  ];
  for (const [k, min, max] of ints) {
    const v = c[k] as unknown;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
      throw new Error(`\`${k}\` must be an integer from ${min} to ${max}, got ${String(v)}`);
    }
  }
  if (c.sqliteSynchronous !== 'NORMAL' && c.sqliteSynchronous !== 'FULL') {
    throw new Error(`\`sqliteSynchronous\` must be NORMAL or FULL, got ${String(c.sqliteSynchronous)}`);
  }
  if (!Array.isArray(c.trustProxy) || c.trustProxy.some((a) => typeof a !== 'string' || !/^[0-9a-fA-F:.]+(\/\d{1,3})?$/.test(a))) {
    throw new Error(`\`trustProxy\` must be a list of IP addresses or CIDR ranges, got ${JSON.stringify(c.trustProxy)}`);
  }
  if (typeof c.rateLimitRedisPrefix !== 'string') throw new Error(`\`rateLimitRedisPrefix\` must be a string, got ${String(c.rateLimitRedisPrefix)}`);
  if (typeof c.redisChannel !== 'string' || c.redisChannel === '') throw new Error(`\`redisChannel\` must be a non-empty string, got ${String(c.redisChannel)}`);
  if (c.adminKey !== null && c.adminKey.length < 16) throw new Error('`adminKey` must be at least 16 characters');
  return c;
}
