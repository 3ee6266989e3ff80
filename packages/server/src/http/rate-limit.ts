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

export interface RateLimits {
  /** Counts a `/v1/` request against its client IP (and a stream open against the IP's stream opens). */
  checkIp(req: FastifyRequest, reply: FastifyReply, stream: boolean): Promise<void>;
  /** Counts an authenticated request against its credential. */
  checkCredential(principal: Principal, req: FastifyRequest, reply: FastifyReply, stream: boolean): Promise<void>;
  close(): Promise<void>;
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
  const local = await limiterIn({ cache: 10_000 });
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

  const hit = async (req: FastifyRequest, reply: FastifyReply, key: string): Promise<void> => {
    if (!limits[key.slice(0, key.indexOf('|'))]) return;
    (req as Keyed)[KEY] = key;
    let r: Awaited<ReturnType<Limiter>> | null = null;
    if (shared && Date.now() >= sharedDownUntil) {
      try {
        r = await shared(req);
        warned = false;
      } catch (error) {
        sharedDownUntil = Date.now() + 1000;
        if (!warned) log.warn({ err: error }, 'rate limits: Redis unavailable; counting in memory on this instance');
        warned = true;
      }
    }
    r ??= await local(req);
    if (!r.isExceeded) return;
    const after = String(Math.max(1, r.ttlInSeconds ?? 1));
    reply.header('retry-after', after);
    reply.header('x-ratelimit-limit', String(r.max));
    reply.header('x-ratelimit-remaining', '0');
    reply.header('x-ratelimit-reset', after);
    throw new TaskPulseError('rate_limited', `too many requests${key.startsWith('stream') ? ' opening streams' : ''}; retry in ${after} s`, {
      limit: r.max,
      windowMs: config.windowMs,
      scope: key.includes('ip|') ? 'ip' : 'credential',
    });
  };

  return {
    async checkIp(req, reply, stream) {
      await hit(req, reply, `ip|${req.ip}`);
      if (stream) await hit(req, reply, `stream-ip|${req.ip}`);
    },
    async checkCredential(principal, req, reply, stream) {
      const who = credentialKey(principal);
      await hit(req, reply, `cred|${who}`);
      if (stream) await hit(req, reply, `stream-cred|${who}`);
    },
    async close() {
      redis?.disconnect();
    },
  };
}
