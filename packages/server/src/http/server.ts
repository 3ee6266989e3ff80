/**
 * The HTTP server: Fastify with the API's conventions, before and around the routes — body limits
 * (an oversized body drained before its 413), JSON parsing, CORS, the error format, 503s while
 * draining, rate limits, request metrics and authentication on the router — and what is served
 * beside the routes (the OpenAPI document, static files, `/`), listening and closing.
 * The routes themselves are declared per area in routes/ on the router this returns.
 */
import type { Socket } from 'node:net';
import Fastify, { LogController, type FastifyInstance, type FastifyReply } from 'fastify';
import cors from '@fastify/cors';
import { TaskPulseError } from '@taskpulse/protocol';
import type { ServerConfig } from '../config.ts';
import type { Authenticate } from '../auth/authenticate.ts';
import type { Metrics } from '../metrics.ts';
import { openApiDocument } from '../openapi.ts';
import { VERSION } from '../version.ts';
import { createRouter, routeOf, type Router } from './route.ts';
import { installErrorHandling } from './errors.ts';
import { installRateLimits } from './rate-limit.ts';
import { serveStatic } from './static.ts';

export interface HttpDeps {
  authenticate: Authenticate;
  metrics: Metrics;
  /** True once the server is shutting down: requests other than stream opens get a 503. */
  closing: () => boolean;
}

export interface HttpServer {
  app: FastifyInstance;
  /** Declare the API's routes on this: validation, roles, authentication and per-credential limits. */
  router: Router;
  /** CORS headers for a response written outside Fastify's reply (a stream's raw response). */
  corsHeaders(origin: string | undefined): Record<string, string>;
  /** The OpenAPI document of the routes declared on `router`, built on first use. */
  openapi(): unknown;
  /** Static files (the dashboard, the demo's pages) or the `/` banner: call after the routes. */
  serveFiles(): void;
  /** Listens on the configured host and port; returns the URL. */
  listen(): Promise<string>;
  /** Stops listening; requests in flight get `closeGraceMs`, then connections still open are cut. */
  close(): Promise<void>;
  /** Closes the rate limits' Redis connection (if any). */
  closeRateLimits(): Promise<void>;
}

export async function createHttpServer(config: ServerConfig, deps: HttpDeps): Promise<HttpServer> {
  const app = Fastify({
    logger: { level: config.logLevel, stream: process.stderr },
    logController: new LogController({ disableRequestLogging: true }),
    // No child logger per request (pino builds one per call): nothing logs per request but errors,
    // and those name the request id themselves (errors.ts).
    childLoggerFactory: (logger) => logger,
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
  // Open connections: on close, those that have not sent a byte yet are cut at once (below).
  const sockets = new Set<Socket>();
  app.server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
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
  // One callback hook, not two async ones: every request passes here (no promise when the limits
  // count in memory).
  app.addHook('onRequest', (request, reply, done) => {
    const url = request.url;
    // Draining: work is refused with a 503 (a stream still gets its 200 + `retry:`, see routes/events.ts).
    if (deps.closing() && !url.startsWith('/v1/stream')) {
      reply.header('retry-after', '1');
      return done(new TaskPulseError('unavailable', 'the server is shutting down; retry shortly'));
    }
    // Per IP before authentication (bad credentials count too); per credential in the router.
    if (!url.startsWith('/v1/')) return done();
    let counted: Promise<void> | void;
    try {
      counted = limits.checkIp(request, reply, isStreamOpen(url));
    } catch (error) {
      return done(error as Error);
    }
    if (counted === undefined) done();
    else counted.then(() => done(), done);
  });

  app.addHook('onResponse', (request, reply, done) => {
    // The route pattern as the router set it (`request.routeOptions` builds an object per read);
    // unmatched URLs share one label: a scanner must not grow the label set without bound.
    const route = routeOf(request) ?? request.routeOptions.url ?? 'unmatched';
    const stream = route === '/v1/stream' || String(reply.getHeader('content-type') ?? '').startsWith('text/event-stream');
    deps.metrics.httpRequest(request.method, route, reply.statusCode, stream ? null : reply.elapsedTime);
    done();
  });

  const router = createRouter(app, deps.authenticate, (principal, spec, request, reply) =>
    limits.checkCredential(principal, request, reply, spec.url === '/v1/stream'),
  );
  let openapi: unknown = null;

  return {
    app,
    router,
    corsHeaders,
    openapi: () => (openapi ??= openApiDocument(router, VERSION)),
    serveFiles: () => {
      if (config.staticDir || config.dashboardDir) {
        serveStatic(app, { dirs: config.staticDir ? [config.staticDir] : [], app: config.dashboardDir, missingAppHint: config.dashboardMissingHint ?? undefined });
      } else {
        app.get('/', async () => ({ name: 'TaskPulse', version: VERSION, openapi: '/openapi.json' }));
      }
    },
    listen: async () => {
      await app.listen({ host: config.host, port: config.port, listenTextResolver: (address) => `listening on ${address}` });
      const addr = app.server.address();
      const port = typeof addr === 'object' && addr ? addr.port : config.port;
      const host = config.host.includes(':') ? `[${config.host}]` : config.host;
      return `http://${host}:${port}`;
    },
    close: async () => {
      // In-flight requests get a grace period; then connections still open are cut.
      const grace = setTimeout(() => app.server.closeAllConnections(), config.closeGraceMs);
      grace.unref();
      const closing = app.close();
      // Node counts a connection that has not sent a byte yet (undici's fetch opens a spare one)
      // neither as idle nor as busy: it would hold the close for the whole grace period.
      for (const socket of sockets) if (socket.bytesRead === 0) socket.destroy();
      await closing;
      clearTimeout(grace);
    },
    closeRateLimits: () => limits.close(),
  };
}
