/**
 * Wiring: store → bus → stream hub, the task service, auth, routes and background timers.
 * `buildServer()` builds without listening (for `app.inject()` tests); `startServer()` listens.
 */
import { randomBytes } from 'node:crypto';
import Fastify, { LogController, type FastifyInstance, type FastifyReply } from 'fastify';
import cors from '@fastify/cors';
import { TaskPulseError } from '@taskpulse/protocol';
import { resolveConfig, type ServerConfig, type ServerOptions } from './config.ts';
import type { Store } from './store/store.ts';
import { SqliteStore } from './store/sqlite/sqlite-store.ts';
import { PostgresStore } from './store/postgres/postgres-store.ts';
import { storageFault } from './store/faults.ts';
import type { Bus } from './bus/bus.ts';
import { MemoryBus } from './bus/memory/memory-bus.ts';
import { RedisBus } from './bus/redis/redis-bus.ts';
import { StreamHub } from './stream/sse-hub.ts';
import { TaskService } from './tasks/service.ts';
import { HistoryCache } from './eta/history.ts';
import { DEFAULT_HEALTH } from './eta/eta.ts';
import { KeyService, KEY_PREFIX } from './auth/keys.ts';
import { TokenService } from './auth/tokens.ts';
import type { Principal } from './auth/principal.ts';
import { createRouter } from './http/route.ts';
import { installErrorHandling } from './http/errors.ts';
import { installRateLimits } from './http/rate-limit.ts';
import { serveStatic } from './http/static.ts';
import { taskRoutes } from './routes/tasks.ts';
import { workerRoutes } from './routes/worker.ts';
import { eventRoutes } from './routes/events.ts';
import { accessRoutes, notificationRoutes } from './routes/access.ts';
import { opsRoutes } from './routes/ops.ts';
import { webhookRoutes } from './routes/webhooks.ts';
import { WebhookDispatcher, WEBHOOK_DEFAULTS } from './webhooks/dispatcher.ts';
import { Metrics } from './metrics.ts';
import { openApiDocument } from './openapi.ts';

export const VERSION = '0.1.0';

export interface TaskPulseServer {
  app: FastifyInstance;
  config: ServerConfig;
  store: Store;
  bus: Bus;
  hub: StreamHub;
  tasks: TaskService;
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
    secret = config.secret ?? (await store.setSettingIfAbsent('viewer_token_secret', randomBytes(32).toString('base64url')));
  } catch (error) {
    // Do not leave a database pool (or file) open behind a failed start.
    if (!options.store) await store.close().catch(() => {});
    throw error;
  }
  let accepting = false;
  let started = false;
  let closing: Promise<void> | null = null;

  const history = new HistoryCache(store);
  let hub: StreamHub;
  const metrics = new Metrics(store, () => hub.size);
  const tasks = new TaskService(
    {
      leaseMs: config.leaseMs,
      health: DEFAULT_HEALTH,
    },
    { store, history, waitForEvent: (after, ms, signal) => hub.waitForEvent(after, ms, signal) },
  );
  hub = new StreamHub(
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
    { store, bus, snapshot: (f) => tasks.snapshot(f), onDelivered: (e) => metrics.delivered(e) },
  );
  const webhooks = new WebhookDispatcher(
    store,
    { ...WEBHOOK_DEFAULTS, baseDelayMs: config.webhookRetryBaseMs },
    { onError: (error) => app.log.warn({ err: error }, 'webhook dispatch failed') },
  );
  let webhookWake: NodeJS.Immediate | null = null;
  const wakeWebhooks = () => {
    if (started && !webhookWake) webhookWake = setImmediate(() => ((webhookWake = null), void webhooks.tick()));
  };
  store.onCommit((events) => {
    metrics.committed(events);
    bus.publish(events);
    wakeWebhooks();
  });

  const keys = new KeyService(store, { adminKey: config.adminKey, cacheMs: config.keyCacheMs });
  const tokens = new TokenService({ secret, jwksUrl: config.jwksUrl, issuer: 'taskpulse', defaultTtlSeconds: config.tokenTtlSeconds });
  const authenticate = async (credential: string): Promise<Principal | null> => {
    if (credential.startsWith(KEY_PREFIX) || (config.adminKey !== null && credential === config.adminKey)) {
      const k = await keys.verify(credential);
      if (!k) return null;
      return k.role === 'admin' ? { role: 'admin', keyId: k.id } : { role: 'worker', keyId: k.id!, scopes: new Set(k.scopes) };
    }
    return tokens.verify(credential);
  };

  const app = Fastify({
    logger: { level: config.logLevel, stream: process.stderr },
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: config.bodyLimitBytes,
    // Only the listed proxies' X-Forwarded-For is believed (request.ip); by default none is.
    trustProxy: config.trustProxy.length > 0 ? config.trustProxy : false,
    onProtoPoisoning: 'error',
    onConstructorPoisoning: 'error',
    // Ids are up to 128 chars; longer path params get our 400 rather than the router's 414.
    routerOptions: { maxParamLength: 256 },
    // While draining we answer 503 ourselves, in the API's error format (see the onRequest hook).
    return503OnClosing: false,
    // Bad URLs and over-long path params get the API's JSON error body like everything else.
    frameworkErrors: (error, _request, reply) => {
      const e = new TaskPulseError('invalid_request', `the URL is not valid: ${error.message}`);
      void (reply as FastifyReply).code(e.status).type('application/json').send(e.toBody());
    },
  });
  app.removeContentTypeParser('text/plain');
  // An announced body over the limit is read and discarded before the 413, up to a cap: answering
  // while the client is still uploading makes some clients (undici's fetch, ~1 in 60 at 3 MB) fail
  // with EPIPE instead of seeing the 413. Bigger ones are refused at once (the socket may reset).
  const drainCap = Math.max(config.oversizeDrainBytes, config.bodyLimitBytes * 4);
  app.addHook('onRequest', (request, _reply, done) => {
    const length = Number(request.headers['content-length']);
    if (!(length > config.bodyLimitBytes && length <= drainCap)) return done();
    const raw = request.raw;
    const finish = () => {
      raw.off('end', finish);
      raw.off('error', finish);
      done();
    };
    raw.on('end', finish);
    raw.on('error', finish);
    raw.resume();
  });
  // An empty JSON body (`POST …/cancel` with a content-type but nothing else) means "no body".
  const jsonParser = app.getDefaultJsonParser('error', 'error');
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (request, body, done) => {
    if (body === '' || (typeof body === 'string' && body.trim() === '')) return done(null, undefined);
    jsonParser(request, body as string, done);
  });
  const allowed = new Set(config.corsOrigins);
  const originAllowed = (o: string | undefined) => o !== undefined && (allowed.has('*') || allowed.has(o));
  if (allowed.size > 0) {
    await app.register(cors, {
      origin: (origin, cb) => cb(null, originAllowed(origin)),
      allowedHeaders: ['authorization', 'content-type', 'idempotency-key', 'last-event-id', 'if-none-match'],
      exposedHeaders: ['etag', 'retry-after'],
      methods: ['GET', 'POST', 'DELETE'],
      maxAge: 600,
    });
  }
  const corsHeaders = (origin: string | undefined): Record<string, string> =>
    originAllowed(origin) ? { 'access-control-allow-origin': origin!, vary: 'origin' } : {};
  installErrorHandling(app);
  app.addHook('onRequest', async (request, reply) => {
    // Draining: work is refused with a 503 (a stream still gets its 200 + `retry:`, see routes/events.ts).
    if (closing && !request.url.startsWith('/v1/stream')) {
      reply.header('retry-after', '1');
      throw new TaskPulseError('unavailable', 'the server is shutting down; retry shortly');
    }
  });

  const limits = await installRateLimits(
    app,
    {
      windowMs: config.rateLimitWindowMs, perCredential: config.rateLimitPerCredential, perIp: config.rateLimitPerIp,
      streamsPerCredential: config.rateLimitStreamsPerCredential, streamsPerIp: config.rateLimitStreamsPerIp,
      redisUrl: config.redisUrl, redisPrefix: config.rateLimitRedisPrefix,
    },
    app.log,
  );
  const isStreamOpen = (url: string) => url === '/v1/stream' || url.startsWith('/v1/stream?');
  app.addHook('onRequest', async (request, reply) => {
    // Per IP before authentication (bad credentials count too); per credential in the router.
    if (request.url.startsWith('/v1/')) await limits.checkIp(request, reply, isStreamOpen(request.url));
  });

  app.addHook('onResponse', async (request, reply) => {
    // Unmatched URLs share one label: a scanner must not grow the label set without bound.
    const route = request.routeOptions.url ?? 'unmatched';
    const stream = String(reply.getHeader('content-type') ?? '').startsWith('text/event-stream') || route === '/v1/stream';
    metrics.httpRequest(request.method, route, reply.statusCode, stream ? null : reply.elapsedTime);
  });

  const router = createRouter(app, authenticate, (principal, spec, request, reply) =>
    limits.checkCredential(principal, request, reply, spec.url === '/v1/stream'),
  );
  taskRoutes(router, tasks);
  workerRoutes(router, tasks);
  eventRoutes(router, { store, hub, tasks, accepting: () => accepting, retryMs: config.streamRetryMs, authenticate, corsHeaders });
  keys.onRevoke(() => void hub.recheckCredentials());
  accessRoutes(router, keys, tokens);
  webhookRoutes(router, store, () => webhooks.changed(), wakeWebhooks);
  notificationRoutes(router, tasks);
  let openapi: unknown = null;
  opsRoutes(router, { store, bus, metrics, accepting: () => accepting, openapi: () => (openapi ??= openApiDocument(router, VERSION)) });
  if (config.staticDir || config.dashboardDir) {
    serveStatic(app, { dirs: config.staticDir ? [config.staticDir] : [], app: config.dashboardDir, missingAppHint: config.dashboardMissingHint ?? undefined });
  }
  if (!config.staticDir && !config.dashboardDir) app.get('/', async () => ({ name: 'TaskPulse', version: VERSION, openapi: '/openapi.json' }));

  const timers: NodeJS.Timeout[] = [];
  const every = (ms: number, fn: () => Promise<unknown>) => {
    let running = false;
    const t = setInterval(() => {
      if (running) return;
      running = true;
      fn()
        // A dependency that is down is an operating condition (readyz says so), not a bug.
        .catch((error: unknown) => app.log[storageFault(error) ? 'warn' : 'error']({ err: error }, 'background task failed'))
        .finally(() => (running = false));
    }, ms);
    t.unref();
    timers.push(t);
  };

  const start = async () => {
    if (started) return;
    started = true;
    await hub.start();
    every(config.reaperIntervalMs, async () => {
      const n = await tasks.reap();
      if (n > 0) metrics.leaseExpiries.inc(n);
    });
    every(config.healthIntervalMs, () => tasks.checkHealth());
    // Health deadlines of the tasks this instance saw report live in memory: checking them is O(due).
    every(Math.min(config.deadlineCheckMs, config.healthIntervalMs), () => tasks.checkDeadlines());
    every(Math.min(config.pruneIntervalMs, config.retentionMs), () => store.pruneEvents(Date.now() - config.retentionMs));
    every(Math.max(50, Math.min(config.webhookTickMs, config.webhookRetryBaseMs)), () => webhooks.tick());
    accepting = true;
  };

  const close = () =>
    (closing ??= (async () => {
      accepting = false;
      tasks.close();
      for (const t of timers) clearInterval(t);
      const steps: [string, () => Promise<unknown>][] = [
        ['streams', () => hub.close()],
        ['webhooks', () => webhooks.close()],
        [
          'http',
          async () => {
            // In-flight requests get a grace period; then connections still open are cut.
            const grace = setTimeout(() => app.server.closeAllConnections(), config.closeGraceMs);
            grace.unref();
            await app.close();
            clearTimeout(grace);
          },
        ],
        ['store', () => store.close()],
        ['bus', () => bus.close()],
        ['rate limits', () => limits.close()],
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
    app, config, store, bus, hub, tasks, keys, tokens, start, close,
    listen: async () => {
      await start();
      await app.listen({ host: config.host, port: config.port, listenTextResolver: (address) => `listening on ${address}` });
      const addr = app.server.address();
      const port = typeof addr === 'object' && addr ? addr.port : config.port;
      const host = config.host.includes(':') ? `[${config.host}]` : config.host;
      return `http://${host}:${port}`;
    },
  };
}

/** Builds and listens; the handle to use in tests and embedding. */
export async function startServer(options: ServerOptions = {}): Promise<{ url: string; port: number; server: TaskPulseServer; close(): Promise<void> }> {
  const server = await buildServer(options);
  const url = await server.listen();
  return { url, port: Number(new URL(url).port), server, close: () => server.close() };
}
