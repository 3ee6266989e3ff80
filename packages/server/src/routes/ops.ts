import { ClientMetricsRequest, ClientMetricsResponse, HealthResponse, ReadyResponse, TaskPulseError } from '@taskpulse/protocol';
import { z } from 'zod';
import type { Router } from '../http/route.ts';
import type { Metrics } from '../metrics.ts';
import type { Store } from '../store/store.ts';
import type { Bus } from '../bus/bus.ts';
import { computeStats } from '../stats/stats.ts';
import { storageFault } from '../store/faults.ts';
import { computeHistory } from '../stats/history.ts';
import { ClientHealth } from '../stats/client-health.ts';

const DAY_MS = 24 * 3600 * 1000;
const WindowQuery = z.object({
  type: z.string().min(1).max(128).optional(),
  windowMs: z.coerce.number().int().min(1000).max(90 * DAY_MS).optional(),
});

/** How long `/readyz` waits for a dependency before calling it down (a frozen server never answers). */
const READY_TIMEOUT_MS = 2000;

/** `ok`, or `<bad>: <reason>` when `ping` fails or does not answer in time. */
async function dependencyState(ping: () => Promise<void>, bad: 'down' | 'degraded'): Promise<string> {
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      ping(),
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer within ${READY_TIMEOUT_MS} ms`)), READY_TIMEOUT_MS);
      }),
    ]);
    return 'ok';
  } catch (error) {
    return `${bad}: ${storageFault(error) ?? (error as Error)?.message ?? 'unreachable'}`;
  } finally {
    clearTimeout(timer);
  }
}

export function opsRoutes(r: Router, d: { store: Store; bus: Bus; metrics: Metrics; openapi: () => unknown; accepting: () => boolean }): void {
  const clientHealth = new ClientHealth();
  r.route(
    { method: 'GET', url: '/healthz', tag: 'operations', roles: 'public', summary: 'The process is up.', response: HealthResponse },
    async () => ({ status: 'ok' }),
  );
  r.route(
    {
      method: 'GET', url: '/readyz', tag: 'operations', roles: 'public',
      summary: 'Ready to serve: storage reachable and writable (503 otherwise). Names each dependency\'s state; a bus outage alone leaves the instance ready.',
      response: ReadyResponse,
    },
    async ({ reply }) => {
      const [storage, bus] = d.accepting()
        ? await Promise.all([dependencyState(() => d.store.ping(), 'down'), dependencyState(() => d.bus.ping(), 'degraded')])
        : ['starting or shutting down', 'unknown'];
      // Storage is the truth: without it nothing can be served. The bus only wakes readers sooner
      // (the hub's head check fills in), so taking every instance out for a Redis outage would be wrong.
      if (!d.accepting() || storage !== 'ok') {
        const message = !d.accepting() ? 'the server is starting or shutting down' : `storage is ${storage}`;
        reply.code(503).header('retry-after', '1');
        return { status: 'not_ready', storage, bus, ...new TaskPulseError('unavailable', message).toBody() };
      }
      return { status: 'ready', storage, bus };
    },
  );
  r.route(
    { method: 'GET', url: '/metrics', tag: 'operations', roles: 'public', summary: 'Prometheus metrics.', produces: 'text/plain' },
    async ({ reply }) => {
      reply.type(d.metrics.registry.contentType);
      return d.metrics.registry.metrics();
    },
  );
  r.route(
    { method: 'GET', url: '/openapi.json', tag: 'operations', roles: 'public', summary: 'This document.' },
    async () => d.openapi(),
  );
  r.route(
    {
      method: 'GET', url: '/v1/stats', scopes: ['read'], tag: 'operations', roles: ['admin', 'worker', 'staff'],
      query: z.object({ type: z.string().min(1).max(128).optional(), windowMs: z.coerce.number().int().min(1000).max(90 * 24 * 3600 * 1000).optional() }),
      summary: 'Per type and stage: count, median and p90 duration, throughput, queued/running, observed ETA accuracy; and the bottlenecks with a recommendation.',
    },
    async ({ query }) => {
      const windowMs = query.windowMs ?? 24 * 3600 * 1000;
      const since = Date.now() - windowMs;
      const [runs, counts, checks] = await Promise.all([
        d.store.history.stageRunsSince(since, query.type, 100_000), d.store.tasks.countByTypeAndStatus(), d.store.history.etaChecksSince(since, query.type, 100_000),
      ]);
      return computeStats(runs, query.type ? counts.filter((c) => c.type === query.type) : counts, windowMs, checks);
    },
  );
  r.route(
    {
      method: 'GET', url: '/v1/stats/history', tag: 'operations', roles: ['admin', 'worker', 'staff'],
      query: WindowQuery.extend({ bucketMs: z.coerce.number().int().min(10_000).max(DAY_MS).optional() }),
      summary: 'From the store: finished tasks per time bucket (default: per minute over the last hour), failures grouped by code and message, and per type and stage the duration distribution (median, p90, histogram).',
    },
    async ({ query }) => {
      const windowMs = query.windowMs ?? 3600 * 1000;
      // At most 1,440 buckets, whatever the window.
      const bucketMs = Math.max(query.bucketMs ?? 60_000, Math.ceil(windowMs / 1440 / 1000) * 1000);
      const now = Date.now();
      const [finished, runs] = await Promise.all([
        d.store.history.finishedSince(now - windowMs, query.type, 100_000),
        d.store.history.stageRunsSince(now - windowMs, query.type, 100_000),
      ]);
      return computeHistory(finished, runs, { nowMs: now, windowMs, bucketMs });
    },
  );
  r.route(
    {
      method: 'GET', url: '/v1/client-metrics', tag: 'operations', roles: ['admin', 'staff'],
      query: z.object({ windowMs: z.coerce.number().int().min(60_000).max(DAY_MS).optional() }),
      summary: "Browsers' delivery health as they reported it to this instance (share of time live vs polling vs offline, worst staleness), per minute over the window (default 1 h, at most a day).",
    },
    async ({ query }) => clientHealth.summary(query.windowMs ?? 3600 * 1000),
  );
  r.route(
    {
      method: 'POST', url: '/v1/client-metrics', tag: 'operations', roles: ['admin', 'worker', 'viewer', 'staff'], body: ClientMetricsRequest,
      status: 202, summary: 'Delivery health reported by browsers (time live vs polling, worst staleness), exported on /metrics.',
      response: ClientMetricsResponse,
    },
    async ({ body }) => {
      d.metrics.clientTime.inc({ mode: 'live' }, body.liveMs / 1000);
      d.metrics.clientTime.inc({ mode: 'polling' }, body.pollingMs / 1000);
      d.metrics.clientTime.inc({ mode: 'offline' }, body.offlineMs / 1000);
      d.metrics.clientStaleness.observe(body.worstStalenessMs / 1000);
      d.metrics.clientReconnects.inc(body.reconnects);
      clientHealth.add(body);
      return { accepted: true };
    },
  );
}
