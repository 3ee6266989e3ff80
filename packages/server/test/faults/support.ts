/**
 * Fault-suite support: a PostgreSQL cluster and a Redis server of the test's own, on free ports,
 * that a test may kill, freeze and restart — the machine's shared services (5432, 6379) are never
 * touched. Each is removed (processes stopped, directories deleted) by `stop()`.
 *
 * PostgreSQL refuses to run as root, so under root `initdb`/`pg_ctl` run as the `postgres` system
 * user (`runuser`); otherwise as the current user. The binaries are found under
 * /usr/lib/postgresql/<version>/bin (Debian) or on PATH.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { eventually } from '../../../../test-support/eventually.ts';

/** A free TCP port on 127.0.0.1 (the OS picks it; it is free again when we return it). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

function pgBinDir(): string {
  const root = '/usr/lib/postgresql';
  if (existsSync(root)) {
    const versions = readdirSync(root).filter((v) => existsSync(join(root, v, 'bin', 'initdb'))).sort((a, b) => Number(b) - Number(a));
    if (versions[0]) return join(root, versions[0], 'bin');
  }
  const onPath = execFileSync('sh', ['-c', 'command -v initdb || true']).toString().trim();
  if (onPath) return join(onPath, '..');
  throw new Error('PostgreSQL binaries (initdb, pg_ctl) not found under /usr/lib/postgresql/*/bin or on PATH');
}

const asRoot = process.getuid?.() === 0;

/** Runs a PostgreSQL binary as the cluster's owner. */
function pgRun(bin: string, args: string[], options: { timeoutMs?: number } = {}): string {
  const cmd = join(pgBinDir(), bin);
  const [file, argv] = asRoot ? ['runuser', ['-u', 'postgres', '--', cmd, ...args]] : [cmd, args];
  return execFileSync(file, argv, { stdio: ['ignore', 'pipe', 'pipe'], timeout: options.timeoutMs ?? 60_000 }).toString();
}

export interface PgCluster {
  port: number;
  dir: string;
  /** postgres://postgres@127.0.0.1:<port>/<db> */
  url(db?: string): string;
  /** A fresh database in this cluster; returns its URL. */
  createDatabase(): Promise<string>;
  /** Runs SQL as the superuser on the `postgres` database. */
  admin<T extends pg.QueryResultRow = pg.QueryResultRow>(sql: string, params?: unknown[]): Promise<T[]>;
  /** `pg_ctl stop -m immediate`: every backend dies at once, as in a crash or failover. */
  crash(): void;
  /** `pg_ctl start` again (crash recovery runs), resolving once it accepts connections. */
  start(): Promise<void>;
  /** SIGSTOP / SIGCONT every process of the cluster (postmaster and backends). */
  freeze(): void;
  thaw(): void;
  stop(): Promise<void>;
}

/**
 * Starts a throwaway cluster. `settings` go to postgresql.conf (e.g. short timeouts), and the
 * cluster trusts local TCP connections, so URLs need no password.
 */
export async function startPgCluster(settings: Record<string, string | number> = {}): Promise<PgCluster> {
  const base = mkdtempSync(join(tmpdir(), 'taskpulse-pg-'));
  chmodSync(base, 0o755);
  const dir = join(base, 'data');
  mkdirSync(dir, { mode: 0o700 });
  const socketDir = join(base, 'sock');
  mkdirSync(socketDir);
  if (asRoot) {
    const uid = Number(execFileSync('id', ['-u', 'postgres']).toString());
    const gid = Number(execFileSync('id', ['-g', 'postgres']).toString());
    for (const d of [dir, socketDir]) chownSync(d, uid, gid);
  }
  pgRun('initdb', ['-D', dir, '-U', 'postgres', '--auth=trust', '--no-sync', '-E', 'UTF8', '--locale=C']);
  const port = await freePort();
  const conf = {
    port,
    listen_addresses: "'127.0.0.1'",
    unix_socket_directories: `'${socketDir}'`,
    fsync: 'off', // a test cluster: speed over durability of the cluster itself
    max_connections: 100,
    ...settings,
  };
  writeFileSync(join(dir, 'postgresql.auto.conf'), Object.entries(conf).map(([k, v]) => `${k} = ${v}`).join('\n') + '\n');
  const logFile = join(base, 'server.log');
  if (asRoot) {
    writeFileSync(logFile, '');
    chownSync(logFile, Number(execFileSync('id', ['-u', 'postgres']).toString()), Number(execFileSync('id', ['-g', 'postgres']).toString()));
  }
  const url = (db = 'postgres') => `postgres://postgres@127.0.0.1:${port}/${db}`;
  const admin = async <T extends pg.QueryResultRow>(sql: string, params?: unknown[]) => {
    const c = new pg.Client({ connectionString: url() });
    c.on('error', () => {});
    await c.connect();
    try {
      return (await c.query<T>(sql, params)).rows;
    } finally {
      await c.end().catch(() => {});
    }
  };
  const pids = (): number[] => {
    try {
      const main = Number(readFileSync(join(dir, 'postmaster.pid'), 'utf8').split('\n')[0]);
      const children = execFileSync('sh', ['-c', `pgrep -P ${main} || true`]).toString().split('\n').filter(Boolean).map(Number);
      return [main, ...children];
    } catch {
      return [];
    }
  };
  let frozen: number[] = [];
  const thaw = () => {
    for (const pid of frozen) {
      try {
        process.kill(pid, 'SIGCONT');
      } catch {
        // already gone
      }
    }
    frozen = [];
  };
  const start = async () => {
    pgRun('pg_ctl', ['-D', dir, '-l', logFile, '-w', '-t', '30', 'start']);
    // `-w` waits for the postmaster; wait until it answers queries (crash recovery done).
    await eventually('PostgreSQL answers queries', async () => (await admin('SELECT 1'), true), 30_000, 100);
  };
  await start();
  let n = 0;
  return {
    port,
    dir,
    url,
    admin,
    async createDatabase() {
      const name = `t${++n}_${Math.random().toString(36).slice(2, 8)}`;
      await admin(`CREATE DATABASE ${name}`);
      return url(name);
    },
    crash: () => void pgRun('pg_ctl', ['-D', dir, '-m', 'immediate', 'stop']),
    start,
    freeze() {
      frozen = pids();
      for (const pid of frozen) process.kill(pid, 'SIGSTOP');
    },
    thaw,
    async stop() {
      thaw();
      try {
        pgRun('pg_ctl', ['-D', dir, '-m', 'immediate', 'stop'], { timeoutMs: 20_000 });
      } catch {
        // not running
      }
      rmSync(base, { recursive: true, force: true });
    },
  };
}

export interface RedisServer {
  port: number;
  url: string;
  /** Kills the server (SIGKILL): an outage. */
  kill(): Promise<void>;
  /** Starts it again on the same port. */
  start(): Promise<void>;
  stop(): Promise<void>;
}

/** Starts a throwaway `redis-server` (no persistence) on a free port. */
export async function startRedis(): Promise<RedisServer> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'taskpulse-redis-'));
  let child: ChildProcess | null = null;
  const start = async () => {
    const c = (child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir], {
      stdio: ['ignore', 'pipe', 'pipe'],
    }));
    await new Promise<void>((resolve, reject) => {
      let out = '';
      c.stdout!.on('data', (d: Buffer) => {
        out += d.toString();
        if (out.includes('Ready to accept connections')) resolve();
      });
      c.once('exit', (code) => reject(new Error(`redis-server exited (${code}): ${out}`)));
      c.once('error', reject);
    });
  };
  const kill = async () => {
    const c = child;
    child = null;
    if (!c || c.exitCode !== null) return;
    await new Promise<void>((resolve) => {
      c.once('exit', () => resolve());
      c.kill('SIGKILL');
    });
  };
  await start();
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    kill,
    start,
    async stop() {
      await kill();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Whether this process may mount a filesystem (root with CAP_SYS_ADMIN). */
export function canMount(): boolean {
  if (!asRoot) return false;
  const probe = mkdtempSync(join(tmpdir(), 'taskpulse-mnt-'));
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=64k', 'tmpfs', probe], { stdio: 'ignore' });
    execFileSync('umount', [probe], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  } finally {
    rmSync(probe, { recursive: true, force: true });
  }
}

/** A small tmpfs of `bytes`, mounted on a fresh directory: a real volume that really fills up. */
export function mountTmpfs(bytes: number): { dir: string; unmount(): void } {
  const dir = mkdtempSync(join(tmpdir(), 'taskpulse-tmpfs-'));
  execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${bytes}`, 'tmpfs', dir]);
  return {
    dir,
    unmount() {
      try {
        execFileSync('umount', ['-l', dir], { stdio: 'ignore' });
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  };
}

