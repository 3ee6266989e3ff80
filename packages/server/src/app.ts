/**
 * The composition root: builds the server's pieces in dependency order — store and bus, the head
 * waiter, the task pieces (tasks/compose.ts), the stream hub, auth, the HTTP server (http/server.ts),
 * the routes, the background jobs (background.ts) — and starts and closes them in order.
 * `buildServer()` builds without listening (for `app.inject()` tests); `startServer()` listens.
 */
import { randomBytes } from 'node:crypto';
import { resolveConfig, type ServerConfig, type ServerOptions } from './config.ts';
import type { Store } from './store/store.ts';
import { SqliteStore } from './store/sqlite/index.ts';
import { PostgresStore } from './store/postgres/index.ts';
import type { Bus } from './bus/bus.ts';
import { MemoryBus } from './bus/memory/memory-bus.ts';
import { RedisBus } from './bus/redis/redis-bus.ts';
import { StreamHub } from './stream/sse-hub.ts';
import { EventReader } from './stream/event-reader.ts';
import { HeadWaiter } from './stream/head-waiter.ts';
import type { TaskService } from './tasks/service.ts';
import type { TaskReader } from './tasks/reader.ts';
import { composeTasks } from './tasks/compose.ts';
import { HistoryCache } from './eta/history.ts';
import { DEFAULT_HEALTH } from './eta/eta.ts';
import { KeyService } from './auth/keys.ts';
import { TokenService } from './auth/tokens.ts';
import { createAuthenticator } from './auth/authenticate.ts';
import { createHttpServer } from './http/server.ts';
import { taskRoutes } from './routes/tasks.ts';
import { workerRoutes } from './routes/worker.ts';
import { eventRoutes } from './routes/events.ts';
import { accessRoutes, notificationRoutes } from './routes/access.ts';
import { opsRoutes } from './routes/ops.ts';
import { webhookRoutes } from './routes/webhooks.ts';
import { WebhookDispatcher, WEBHOOK_DEFAULTS } from './webhooks/dispatcher.ts';
import { Metrics } from './metrics.ts';
import { Background, deadlineCheckEveryMs } from './background.ts';
import type { FastifyInstance } from 'fastify';
import { VERSION } from './version.ts';

export { VERSION };

export interface TaskPulseServer {
  app: FastifyInstance;
  config: ServerConfig;
  store: Store;
  bus: Bus;
  hub: StreamHub;
  /** The writes: create, claim, report, complete, fail, cancel, retry. */
  tasks: TaskService;
  /** The reads: tasks as the API presents them (with `eta`, `queue`), lists, counts, snapshots. */
  reader: TaskReader;
  keys: KeyService;
  tokens: TokenService;
  /** Starts background work (reaper, health, retention); `listen()` calls it. */
  start(): Promise<void>;
  /** Listens and returns the URL. */
  listen(): Promise<string>;
  /** Stops accepting work, finishes what is in flight, closes streams and storage. Idempotent. */
  close(): Promise<void>;
}

export async function openStore(config: ServerConfig): Promise<Store> {
  if (config.databaseUrl) return PostgresStore.open({ connectionString: config.databaseUrl });
  return new SqliteStore({ file: config.db, synchronous: config.sqliteSynchronous });
}

export async function openBus(config: ServerConfig): Promise<Bus> {
  // Without Redis one instance is complete: its own commits wake its hub in-process.
  if (config.redisUrl) return RedisBus.connect({ url: config.redisUrl, channel: config.redisChannel });
  return new MemoryBus();
}

export async function buildServer(options: ServerOptions = {}): Promise<TaskPulseServer> {
  const config = resolveConfig(options);
  const store = options.store ?? (await openStore(config));
  let bus: Bus;
  let secret: string;
  try {
    bus = options.bus ?? (await openBus(config));
    secret = config.secret ?? (await store.settings.setIfAbsent('viewer_token_secret', randomBytes(32).toString('base64url')));
  } catch (error) {
    // Do not leave a database pool (or file) open behind a failed start.
    if (!options.store) await store.close().catch(() => {});
    throw error;
  }
  let accepting = false;
  let started = false;
  let closing: Promise<void> | null = null;

  // Built in dependency order: nothing here needs a piece built after it (but the metrics' gauge
  // of open streams, read when scraped).
  const heads = new HeadWaiter();
  const history = new HistoryCache(store);
  const tasks = composeTasks({
    store, history, leaseMs: config.leaseMs,
    // `stuck` is told at the last deadline check within its limit: the checks' actual interval.
    health: { ...DEFAULT_HEALTH, checkEveryMs: deadlineCheckEveryMs(config) },
    waitForEvent: (after, ms, signal) => heads.wait(after, ms, signal),
    // The same clock as the hub and the tokens: leases, health deadlines, ETAs and queue estimates.
    ...(options.now ? { now: options.now } : {}),
  });
  const metrics = new Metrics(store, () => hub.size);
  // The log's one read path: polls, snapshots and streams' catch-up.
  const reader = new EventReader({ log: store.events, snapshot: (f) => tasks.reader.snapshot(f) });
  const hub = new StreamHub(
    {
      heartbeatMs: config.heartbeatMs,
      retryMs: config.streamRetryMs,
      bufferBytes: config.streamBufferBytes,
      lagBytes: config.streamLagBytes,
      maxStreamMs: config.streamMaxMs,
      pageSize: config.streamPageSize,
      stallMs: config.streamStallMs,
      // With a bus between instances a lost message is only noticed when the next one shows the
      // gap; checking the store's head now and then bounds the lag when no further event comes.
      headCheckMs: bus.crossInstance === false ? 0 : config.streamHeadCheckMs,
      credentialCheckMs: config.credentialCheckMs,
    },
    { reader, bus, heads, onDelivered: (e) => metrics.delivered(e), now: options.now },
  );
  const keys = new KeyService(store, { adminKey: config.adminKey, cacheMs: config.keyCacheMs, now: options.now });
  const tokens = new TokenService({ secret, jwksUrl: config.jwksUrl, issuer: 'taskpulse', defaultTtlSeconds: config.tokenTtlSeconds }, { now: options.now });
  const authenticate = createAuthenticator({ keys, tokens, adminKey: config.adminKey });

  const http = await createHttpServer(config, { authenticate, metrics, closing: () => closing !== null });
  const { app, router } = http;
  const webhooks = new WebhookDispatcher(
    store,
    { ...WEBHOOK_DEFAULTS, baseDelayMs: config.webhookRetryBaseMs },
    { onError: (error) => app.log.warn({ err: error }, 'webhook dispatch failed') },
  );
  const background = new Background(config, {
    store, webhooks, log: app.log,
    reap: () => tasks.reaper.reap(),
    checkHealth: () => tasks.health.checkHealth(),
    checkDeadlines: () => tasks.health.checkDeadlines(),
    onLeasesExpired: (n) => metrics.leaseExpiries.inc(n),
  });
  const wakeWebhooks = () => background.wakeWebhooks();
  store.onCommit((events) => {
    metrics.committed(events);
    bus.publish(events);
    wakeWebhooks();
  });
  taskRoutes(router, tasks.service, tasks.reader);
  workerRoutes(router, tasks.service);
  eventRoutes(router, { reader, hub, accepting: () => accepting, retryMs: config.streamRetryMs, authenticate, corsHeaders: http.corsHeaders });
  keys.onRevoke(() => void hub.recheckCredentials());
  accessRoutes(router, keys, tokens);
  webhookRoutes(router, store, () => webhooks.changed(), wakeWebhooks);
  notificationRoutes(router, tasks.service, tasks.reader);
  opsRoutes(router, { store, bus, metrics, accepting: () => accepting, openapi: http.openapi });
  http.serveFiles();

  const start = async () => {
    if (started) return;
    started = true;
    await hub.start();
    background.start();
    accepting = true;
  };

  const close = () =>
    (closing ??= (async () => {
      accepting = false;
      tasks.service.close();
      background.stop();
      const steps: [string, () => Promise<unknown>][] = [
        ['streams', () => hub.close()],
        ['webhooks', () => webhooks.close()],
        ['http', () => http.close()],
        ['store', () => store.close()],
        ['bus', () => bus.close()],
        ['rate limits', () => http.closeRateLimits()],
      ];
      for (const [name, step] of steps) {
        try {
          await step();
        } catch (error) {
          app.log.error({ err: error }, `closing ${name} failed`);
        }
      }
    })());

  return {
    app, config, store, bus, hub, tasks: tasks.service, reader: tasks.reader, keys, tokens, start, close,
    listen: async () => {
      await start();
      return http.listen();
    },
  };
}

/** Builds and listens; the handle to use in tests and embedding. */
export async function startServer(options: ServerOptions = {}): Promise<{ url: string; port: number; server: TaskPulseServer; close(): Promise<void> }> {
  const server = await buildServer(options);
  const url = await server.listen();
  return { url, port: Number(new URL(url).port), server, close: () => server.close() };
}
