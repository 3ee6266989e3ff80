/**
 * `taskpulse serve | keys … | watch <taskId>`. Flag > environment > default for every option.
 */
import { createRequire } from 'node:module';
import { Command, Option } from 'commander';
import { SCOPES } from '@taskpulse/protocol/constants';
import type { Scope } from '@taskpulse/protocol';
// Only the light config module at start: `taskpulse --help` must answer fast, so the server
// (Fastify, SQLite, PostgreSQL, Redis clients) is imported by the commands that run it.
import { DEFAULTS } from '@taskpulse/server/config';
import type { TaskPulseServer } from '@taskpulse/server';

/** This package's version (package.json sits one folder above both src/ and dist/). */
const VERSION: string = createRequire(import.meta.url)('../package.json').version;
import { BUILD_HINT, dashboardUrl, findDashboard, mintStaffToken } from './dashboard.ts';

const ENV_HELP = `
Environment (a flag wins over its variable):
  TASKPULSE_HOST, TASKPULSE_PORT, TASKPULSE_DB, TASKPULSE_DATABASE_URL, TASKPULSE_REDIS_URL, TASKPULSE_REDIS_CHANNEL,
  TASKPULSE_SECRET, TASKPULSE_ADMIN_KEY, TASKPULSE_HEARTBEAT_MS, TASKPULSE_LEASE_MS,
  TASKPULSE_CORS_ORIGINS, TASKPULSE_TRUST_PROXY, TASKPULSE_JWKS_URL, TASKPULSE_SYNCHRONOUS, TASKPULSE_STREAM_MAX_MS, TASKPULSE_STREAM_STALL_MS,
  TASKPULSE_RATE_LIMIT_WINDOW_MS, TASKPULSE_RATE_LIMIT_PER_CREDENTIAL, TASKPULSE_RATE_LIMIT_PER_IP,
  TASKPULSE_RATE_LIMIT_STREAMS_PER_CREDENTIAL, TASKPULSE_RATE_LIMIT_STREAMS_PER_IP, TASKPULSE_LOG_LEVEL,
  TASKPULSE_DASHBOARD_DIR, TASKPULSE_URL

Examples:
  taskpulse serve                                  # http://127.0.0.1:8080, data in ./taskpulse.db
  TASKPULSE_ADMIN_KEY=$(openssl rand -hex 24) taskpulse serve --port 9000
  taskpulse keys create --role worker --name importer
  taskpulse keys create --name queue-worker --scopes tasks:claim   # claims and reports; mints no tokens
  taskpulse dashboard                              # prints http://127.0.0.1:8080/#token=… (staff)
  taskpulse watch tsk_01JD... --url http://127.0.0.1:8080 --key tpk_...
`;

function int(name: string) {
  return (v: string): number => {
    if (!/^\d+$/.test(v)) throw new Error(`--${name} must be a whole number, got "${v}"`);
    return Number(v);
  };
}

const SCOPE_NAMES = SCOPES;
type ScopeName = Scope;

function scopeList(v: string): ScopeName[] {
  const list = v.split(',').map((x) => x.trim()).filter(Boolean);
  const bad = list.filter((x) => !(SCOPE_NAMES as readonly string[]).includes(x));
  if (list.length === 0 || bad.length > 0) throw new Error(`--scopes must be a comma list of ${SCOPE_NAMES.join(', ')}, got "${v}"`);
  return [...new Set(list)] as ScopeName[];
}

/** Options several commands share: one definition each. */
const common = {
  host: () => new Option('--host <host>', 'interface to listen on').env('TASKPULSE_HOST').default(DEFAULTS.host),
  port: () => new Option('--port <port>', 'port (0 = any free port)').env('TASKPULSE_PORT').default(DEFAULTS.port).argParser(int('port')),
  db: () => new Option('--db <file>', 'SQLite file').env('TASKPULSE_DB').default(DEFAULTS.db),
  logLevel: (fallback: string) => new Option('--log-level <level>', 'pino log level').env('TASKPULSE_LOG_LEVEL').default(fallback),
  dashboardDir: () => new Option('--dashboard-dir <dir>', 'the built dashboard to serve at / (default: the one shipped or built in the checkout)').env('TASKPULSE_DASHBOARD_DIR'),
};

export async function main(argv: string[]): Promise<void> {
  const program = new Command('taskpulse')
    .version(VERSION)
    .description('Live progress of long-running background tasks.')
    .addHelpText('after', ENV_HELP)
    .showHelpAfterError();

  program
    .command('serve')
    .description('Run the server (API, streams and, when built, the dashboard).')
    .addOption(common.host())
    .addOption(common.port())
    .addOption(common.db())
    .addOption(new Option('--database-url <url>', 'PostgreSQL URL (replaces --db)').env('TASKPULSE_DATABASE_URL'))
    .addOption(new Option('--redis-url <url>', 'Redis URL (bus for several instances)').env('TASKPULSE_REDIS_URL'))
    .addOption(new Option('--redis-channel <name>', 'Redis pub/sub channel shared by the instances of one deployment').env('TASKPULSE_REDIS_CHANNEL').default('taskpulse:events'))
    .addOption(new Option('--secret <secret>', 'signs viewer tokens (default: generated and stored on first start)').env('TASKPULSE_SECRET'))
    .addOption(new Option('--admin-key <key>', 'accepted as an admin API key').env('TASKPULSE_ADMIN_KEY'))
    .addOption(new Option('--jwks-url <url>', "also accept viewer tokens signed by your identity provider's keys").env('TASKPULSE_JWKS_URL'))
    .addOption(new Option('--heartbeat-ms <ms>', 'stream heartbeat interval').env('TASKPULSE_HEARTBEAT_MS').default(DEFAULTS.heartbeatMs).argParser(int('heartbeat-ms')))
    .addOption(new Option('--lease-ms <ms>', 'default lease').env('TASKPULSE_LEASE_MS').default(DEFAULTS.leaseMs).argParser(int('lease-ms')))
    .addOption(new Option('--cors-origins <list>', 'comma list of browser origins allowed to call the API').env('TASKPULSE_CORS_ORIGINS'))
    .addOption(new Option('--trust-proxy <list>', "comma list of your reverse proxies' addresses or CIDR ranges whose X-Forwarded-For is believed").env('TASKPULSE_TRUST_PROXY'))
    .addOption(new Option('--synchronous <mode>', 'SQLite durability: NORMAL survives a killed process, FULL also power loss').env('TASKPULSE_SYNCHRONOUS').choices(['NORMAL', 'FULL']).default('NORMAL'))
    .addOption(new Option('--stream-max-ms <ms>', 'close streams after this long with a retry hint (0 = never)').env('TASKPULSE_STREAM_MAX_MS').default(0).argParser(int('stream-max-ms')))
    .addOption(new Option('--stream-stall-ms <ms>', 'close a stream whose reader takes nothing for this long while bytes wait').env('TASKPULSE_STREAM_STALL_MS').default(DEFAULTS.streamStallMs).argParser(int('stream-stall-ms')))
    .addOption(new Option('--rate-limit-window-ms <ms>', 'rate limits count requests in fixed windows of this length').env('TASKPULSE_RATE_LIMIT_WINDOW_MS').default(DEFAULTS.rateLimitWindowMs).argParser(int('rate-limit-window-ms')))
    .addOption(new Option('--rate-limit-per-credential <n>', '/v1/ requests per window per API key, viewer or staff (0 = no limit)').env('TASKPULSE_RATE_LIMIT_PER_CREDENTIAL').default(DEFAULTS.rateLimitPerCredential).argParser(int('rate-limit-per-credential')))
    .addOption(new Option('--rate-limit-per-ip <n>', '/v1/ requests per window per client IP (0 = no limit)').env('TASKPULSE_RATE_LIMIT_PER_IP').default(DEFAULTS.rateLimitPerIp).argParser(int('rate-limit-per-ip')))
    .addOption(new Option('--rate-limit-streams-per-credential <n>', 'stream opens per window per credential (0 = no limit)').env('TASKPULSE_RATE_LIMIT_STREAMS_PER_CREDENTIAL').default(DEFAULTS.rateLimitStreamsPerCredential).argParser(int('rate-limit-streams-per-credential')))
    .addOption(new Option('--rate-limit-streams-per-ip <n>', 'stream opens per window per client IP (0 = no limit)').env('TASKPULSE_RATE_LIMIT_STREAMS_PER_IP').default(DEFAULTS.rateLimitStreamsPerIp).argParser(int('rate-limit-streams-per-ip')))
    .addOption(common.dashboardDir())
    .addOption(common.logLevel('info'))
    .action(async (o) => {
      const { buildServer } = await import('@taskpulse/server');
      const dashboard = findDashboard(o.dashboardDir);
      if (!dashboard.built) process.stderr.write(`taskpulse: the dashboard is not built, so / explains how. ${BUILD_HINT}\n`);
      const server = await buildServer({
        dashboardDir: dashboard.dir, dashboardMissingHint: BUILD_HINT,
        host: o.host, port: o.port, db: o.db, databaseUrl: o.databaseUrl ?? null, redisUrl: o.redisUrl ?? null, redisChannel: o.redisChannel,
        secret: o.secret ?? null, adminKey: o.adminKey ?? null, jwksUrl: o.jwksUrl ?? null, heartbeatMs: o.heartbeatMs, leaseMs: o.leaseMs,
        corsOrigins: o.corsOrigins ? String(o.corsOrigins).split(',').map((s: string) => s.trim()).filter(Boolean) : [],
        trustProxy: o.trustProxy ? String(o.trustProxy).split(',').map((s: string) => s.trim()).filter(Boolean) : [],
        sqliteSynchronous: o.synchronous, streamMaxMs: o.streamMaxMs, streamStallMs: o.streamStallMs, logLevel: o.logLevel,
        rateLimitWindowMs: o.rateLimitWindowMs, rateLimitPerCredential: o.rateLimitPerCredential, rateLimitPerIp: o.rateLimitPerIp,
        rateLimitStreamsPerCredential: o.rateLimitStreamsPerCredential, rateLimitStreamsPerIp: o.rateLimitStreamsPerIp,
      });
      let stopping = false;
      const stop = (signal: string) => {
        if (stopping) return;
        stopping = true;
        server.app.log.info(`${signal}: finishing in-flight work and closing streams`);
        const force = setTimeout(() => process.exit(1), 15_000);
        force.unref();
        void server.close().then(() => process.exit(0));
      };
      process.on('SIGTERM', () => stop('SIGTERM'));
      process.on('SIGINT', () => stop('SIGINT'));
      const url = await server.listen();
      process.stdout.write(`listening on ${url}\n`);
    });

  program
    .command('demo')
    .description('Run the server with demo workers (AI search, PDF import, batch) and the example pages.')
    .addOption(common.host())
    .addOption(common.port())
    .addOption(common.db())
    .addOption(new Option('--admin-key <key>', 'admin key (default: a fresh one, printed)').env('TASKPULSE_ADMIN_KEY'))
    .addOption(new Option('--owner <owner>', 'the end user the demo tasks belong to').default('demo-user'))
    .addOption(common.logLevel('warn'))
    .action(async (o) => {
      const { runDemo } = await import('./demo.ts');
      await runDemo({ host: o.host, port: o.port, db: o.db, adminKey: o.adminKey ?? null, owner: o.owner, logLevel: o.logLevel, dashboardDir: o.dashboardDir ?? null });
    });

  program
    .command('dashboard')
    .description('Print the dashboard URL with a fresh staff token (reads every task, cancels and retries; nothing else).')
    .addOption(new Option('--url <url>', 'server URL').env('TASKPULSE_URL').default('http://127.0.0.1:8080'))
    .addOption(new Option('--admin-key <key>', 'mint the token over HTTP with this admin key').env('TASKPULSE_ADMIN_KEY'))
    .addOption(new Option('--ttl <seconds>', 'token lifetime').default(12 * 3600).argParser(int('ttl')))
    .addOption(new Option('--secret <secret>', 'without an admin key: sign the token locally with the server secret').env('TASKPULSE_SECRET'))
    .addOption(common.db())
    .action(async (o) => {
      let minted: { token: string; expiresAt: string };
      if (o.adminKey) minted = await mintStaffToken(o.url, o.adminKey, o.ttl);
      else {
        // No admin key: sign with the secret the server uses (given, or stored in its SQLite file).
        minted = await withServer(o.db, (s) => s.tokens.mintStaff(o.ttl), o.secret || null);
      }
      console.log(dashboardUrl(o.url, minted.token));
      process.stderr.write(`(staff token, valid until ${minted.expiresAt}; open the URL in a browser — the token stays in that tab)\n`);
    });

  const keys = program.command('keys').description('Manage API keys (directly in the SQLite file).');
  keys
    .command('create')
    .description('Create an API key; it is printed once.')
    .addOption(new Option('--role <role>', 'worker or admin').choices(['worker', 'admin']).default('worker'))
    .option('--name <name>', 'a label for the key')
    .option('--scopes <list>', `comma list of what a worker key may do: ${SCOPE_NAMES.join(', ')} (default: all)`, scopeList)
    .option('--json', 'print JSON')
    .addOption(common.db())
    .action(async (o) => {
      if (o.scopes && o.role !== 'worker') throw new Error('--scopes applies to worker keys (admin keys may do everything)');
      await withServer(o.db, async (s) => {
        const k = await s.keys.create(o.role, o.name ?? null, o.scopes);
        if (o.json) console.log(JSON.stringify({ id: k.id, key: k.key, role: o.role, name: o.name ?? null, scopes: k.info.scopes }));
        else console.log(`${k.key}\n(id ${k.id}, role ${o.role}, scopes ${k.info.scopes.join(',')}; shown once — store it now)`);
      });
    });
  keys
    .command('list')
    .description('List API keys (never the keys themselves).')
    .option('--json', 'print JSON')
    .addOption(common.db())
    .action(async (o) => {
      await withServer(o.db, async (s) => {
        const list = await s.keys.list();
        if (o.json) return console.log(JSON.stringify(list));
        for (const k of list) console.log(`${k.id}  ${k.role.padEnd(6)}  ${k.prefix}…  ${k.name ?? ''}${k.revokedAt ? `  revoked ${k.revokedAt}` : ''}`);
        if (list.length === 0) console.log('no keys');
      });
    });
  keys
    .command('revoke <id>')
    .description('Revoke an API key.')
    .addOption(common.db())
    .action(async (id: string, o) => {
      await withServer(o.db, async (s) => {
        await s.keys.revoke(id);
        console.log(`revoked ${id}`);
      });
    });

  program
    .command('watch <taskId>')
    .description('Show a live progress bar for one task until it finishes.')
    .addOption(new Option('--url <url>', 'server URL').env('TASKPULSE_URL').default('http://127.0.0.1:8080'))
    .addOption(new Option('--key <credential>', 'API key or viewer token').env('TASKPULSE_API_KEY'))
    .action(async (taskId: string, o) => {
      if (!o.key) throw new Error('--key (or TASKPULSE_API_KEY) is required');
      const { watch } = await import('./watch.ts');
      process.exitCode = await watch({ url: o.url, credential: o.key, taskId });
    });

  try {
    await program.parseAsync(argv, { from: 'user' });
  } catch (error) {
    console.error(`taskpulse: ${(error as Error).message}`);
    process.exitCode = 2;
  }
}

async function withServer<T>(db: string, fn: (s: TaskPulseServer) => Promise<T>, secret: string | null = null): Promise<T> {
  const { buildServer, SqliteStore } = await import('@taskpulse/server');
  const store = new SqliteStore({ file: db });
  const s = await buildServer({ store, logLevel: 'silent', secret });
  try {
    return await fn(s);
  } finally {
    await s.close();
  }
}
