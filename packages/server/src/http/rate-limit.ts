/**
 * Rate limits (issue 8, item 11), with `@fastify/rate-limit`'s stores: per client IP on every
 * `/v1/` request (checked before authentication, so a flood of bad credentials is limited too)
 * and per credential once it is known (an API key's id, a viewer token's owner, `staff`); stream
 * opens have limits of their own on both. Fixed windows of `windowMs`; 0 turns a limit off.
 *
 * With Redis configured the counters live there (shared by every instance: a limit is for the
 * deployment, not per instance). When Redis fails or is slow (`commandTimeout`), the instance
 * counts in memory instead for a second and tries Redis again: the limits still hold per
 * instance, and a Redis outage never turns into 500s or 503s.
 *
 * In memory the count is this module's own {@link WindowCounts}, checked synchronously: every
 * request passes here twice (IP, credential), and the plugin's limiter costs a key generator, a
 * route-options object and four promises per call. Its semantics are the plugin's LocalStore's.
 */
import rateLimit from '@fastify/rate-limit';
import { TaskPulseError } from '@taskpulse/protocol';
import type { FastifyBaseLogger, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { Redis } from 'ioredis';
import type { Principal } from '../auth/principal.ts';

export interface RateLimitConfig {
  windowMs: number;
  perCredential: number;
  perIp: number;
  streamsPerCredential: number;
  streamsPerIp: number;
  /** Counters in this Redis (shared by the instances); null: in memory. */
  redisUrl: string | null;
  /** Prefix of the Redis keys. */
  redisPrefix: string;
}

type Limiter = (req: FastifyRequest) => Promise<{ isAllowed: boolean; isExceeded?: boolean; max?: number; ttlInSeconds?: number }>;

/**
 * Both checks throw the 429 when a limit is passed. In memory they are synchronous (undefined, or
 * a throw); with Redis they return a promise.
 */
export interface RateLimits {
  /** Counts a `/v1/` request against its client IP (and a stream open against the IP's stream opens). */
  checkIp(req: FastifyRequest, reply: FastifyReply, stream: boolean): Promise<void> | void;
  /** Counts an authenticated request against its credential. */
  checkCredential(principal: Principal, req: FastifyRequest, reply: FastifyReply, stream: boolean): Promise<void> | void;
  close(): Promise<void>;
}

/**
 * Fixed-window counters in memory, as `@fastify/rate-limit`'s LocalStore counts: a key's window
 * starts at its first hit and lasts `windowMs`; at most `capacity` keys are kept (a key whose
 * window restarts moves to the end, and the oldest window is forgotten first).
 */
export class WindowCounts {
  readonly #windows = new Map<string, { count: number; startMs: number }>();
  readonly #capacity: number;

  constructor(capacity: number) {
    this.#capacity = capacity;
  }

  /** Counts a hit on `key`; returns the count in the current window and the ms left in it. */
  hit(key: string, windowMs: number, nowMs: number): { count: number; ttlMs: number } {
    let w = this.#windows.get(key);
    if (w !== undefined && w.startMs + windowMs > nowMs) {
      w.count++;
    } else {
      if (w !== undefined) this.#windows.delete(key);
      else if (this.#windows.size >= this.#capacity) this.#windows.delete(this.#windows.keys().next().value!);
      w = { count: 1, startMs: nowMs };
      this.#windows.set(key, w);
    }
    return { count: w.count, ttlMs: windowMs - (nowMs - w.startMs) };
  }
}

/** The key a credential is counted under: one bucket per API key, per viewer (owner), for staff. */
export function credentialKey(p: Principal): string {
  switch (p.role) {
    case 'admin':
      return `key:${p.keyId ?? 'bootstrap-admin'}`;
    case 'worker':
      return `key:${p.keyId}`;
    case 'viewer':
      return `viewer:${p.owner}`;
    case 'staff':
      return 'staff';
  }
}

const KEY = Symbol('taskpulse.rateLimitKey');
type Keyed = FastifyRequest & { [KEY]?: string };

export async function installRateLimits(app: FastifyInstance, config: RateLimitConfig, log: FastifyBaseLogger): Promise<RateLimits> {
  const limits: Record<string, number> = {
    ip: config.perIp,
    cred: config.perCredential,
    'stream-ip': config.streamsPerIp,
    'stream-cred': config.streamsPerCredential,
  };
  const settings = {
    global: false,
    timeWindow: config.windowMs,
    // One plugin instance serves every limit: the key says which (`ip:1.2.3.4`, `cred:key:…`).
    keyGenerator: (req: FastifyRequest) => (req as Keyed)[KEY]!,
    max: (_req: FastifyRequest, key: string) => limits[key.slice(0, key.indexOf('|'))] ?? 0,
  };
  // Each store is the plugin registered in a scope of its own, so both can exist side by side.
  const limiterIn = async (extra: Record<string, unknown>): Promise<Limiter> => {
    let limiter!: Limiter;
    await app.register(async (scope) => {
      await scope.register(rateLimit, { ...settings, ...extra });
      limiter = scope.createRateLimit() as unknown as Limiter;
    });
    return limiter;
  };
  const local = new WindowCounts(10_000);
  let redis: Redis | null = null;
  let shared: Limiter | null = null;
  if (config.redisUrl) {
    // Fail fast: no offline queue, no retries, a short command timeout (a frozen Redis must not
    // hold every request); ioredis keeps reconnecting in the background.
    redis = new Redis(config.redisUrl, { lazyConnect: true, enableOfflineQueue: false, maxRetriesPerRequest: 0, commandTimeout: 500 });
    redis.on('error', () => {});
    // Ready before the first request when Redis is up; when it is not, requests count in memory until it is.
    await redis.connect().catch(() => {});
    shared = await limiterIn({ redis, nameSpace: config.redisPrefix, skipOnError: false });
  }
  let sharedDownUntil = 0;
  let warned = false;

  const refuse = (reply: FastifyReply, kind: string, max: number, ttlSeconds: number): never => {
    const after = String(Math.max(1, ttlSeconds));
    reply.header('retry-after', after);
    reply.header('x-ratelimit-limit', String(max));
    reply.header('x-ratelimit-remaining', '0');
    reply.header('x-ratelimit-reset', after);
    throw new TaskPulseError('rate_limited', `too many requests${kind.startsWith('stream') ? ' opening streams' : ''}; retry in ${after} s`, {
      limit: max,
      windowMs: config.windowMs,
      scope: kind.endsWith('ip') ? 'ip' : 'credential',
    });
  };
  const hitLocal = (reply: FastifyReply, kind: string, max: number, key: string): void => {
    const r = local.hit(key, config.windowMs, Date.now());
    if (r.count > max) refuse(reply, kind, max, Math.ceil(r.ttlMs / 1000));
  };
  const hitShared = async (req: FastifyRequest, reply: FastifyReply, kind: string, max: number, key: string): Promise<void> => {
    (req as Keyed)[KEY] = key;
    try {
      const r = await shared!(req);
      warned = false;
      if (r.isExceeded) refuse(reply, kind, r.max ?? max, r.ttlInSeconds ?? 1);
      return;
    } catch (error) {
      if (error instanceof TaskPulseError) throw error;
      sharedDownUntil = Date.now() + 1000;
      if (!warned) log.warn({ err: error }, 'rate limits: Redis unavailable; counting in memory on this instance');
      warned = true;
    }
    hitLocal(reply, kind, max, key);
  };
  /** Counts a hit of `who` against the limit `kind` (a key of `limits`; 0: no limit). */
  const hit = (req: FastifyRequest, reply: FastifyReply, kind: string, who: string): Promise<void> | void => {
    const max = limits[kind]!;
    if (!max) return;
    const key = `${kind}|${who}`;
    if (shared && Date.now() >= sharedDownUntil) return hitShared(req, reply, kind, max, key);
    hitLocal(reply, kind, max, key);
  };
  const both = (first: Promise<void> | void, then: () => Promise<void> | void): Promise<void> | void =>
    first === undefined ? then() : first.then(then);

  return {
    checkIp(req, reply, stream) {
      const ip = req.ip;
      const counted = hit(req, reply, 'ip', ip);
      return stream ? both(counted, () => hit(req, reply, 'stream-ip', ip)) : counted;
    },
    checkCredential(principal, req, reply, stream) {
      const who = credentialKey(principal);
      const counted = hit(req, reply, 'cred', who);
      return stream ? both(counted, () => hit(req, reply, 'stream-cred', who)) : counted;
    },
    async close() {
      redis?.disconnect();
    },
  };
}
