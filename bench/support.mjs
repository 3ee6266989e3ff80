// Shared by the HTTP benchmarks: a real server process on a temp SQLite file, and a keep-alive
// JSON caller with the admin key.
import { spawn } from 'node:child_process';
import http from 'node:http';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

export const ADMIN = 'bench_admin_key_0123456789';
const root = dirname(dirname(fileURLToPath(import.meta.url)));

/**
 * Starts `taskpulse serve` on a free port; `stop()` ends it and removes its data.
 * `BENCH_SERVER_NODE_ARGS` adds Node flags to the server process only, e.g.
 * `BENCH_SERVER_NODE_ARGS="--cpu-prof --cpu-prof-dir=/tmp/prof"` to profile it. `root` runs the
 * server of another checkout (an A/B against an older commit, see cpu.mjs).
 */
export async function startServer(extraArgs = [], { root: serverRoot = root } = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'taskpulse-bench-'));
  const nodeArgs = (process.env.BENCH_SERVER_NODE_ARGS ?? '').split(' ').filter(Boolean);
  const proc = spawn(process.execPath, [...nodeArgs, join(serverRoot, 'packages/cli/bin/taskpulse.mjs'), 'serve', '--port', '0', '--db', join(dir, 'bench.db'), '--log-level', 'warn', ...extraArgs], {
    env: { ...process.env, TASKPULSE_ADMIN_KEY: ADMIN },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const { host, port } = await new Promise((resolve, reject) => {
    let out = '';
    proc.stdout.on('data', (d) => {
      out += d;
      const m = /listening on http:\/\/([\d.]+):(\d+)/.exec(out);
      if (m) resolve({ host: m[1], port: Number(m[2]) });
    });
    proc.once('exit', (c) => reject(new Error(`server exited ${c}`)));
  });
  const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });
  /** A JSON request; rejects on a non-2xx answer. */
  const call = (method, path, body, token = ADMIN) =>
    new Promise((resolve, reject) => {
      const data = body === undefined ? undefined : JSON.stringify(body);
      const req = http.request(
        { host, port, method, path, agent, headers: { authorization: `Bearer ${token}`, ...(data ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(data) } : {}) } },
        (res) => {
          let text = '';
          res.setEncoding('utf8');
          res.on('data', (c) => (text += c));
          res.on('end', () => (res.statusCode >= 300 ? reject(new Error(`${method} ${path}: ${res.statusCode} ${text}`)) : resolve(text ? JSON.parse(text) : null)));
        },
      );
      req.on('error', reject);
      req.end(data);
    });
  const stop = async () => {
    const exited = new Promise((r) => proc.once('exit', r));
    proc.kill('SIGTERM');
    agent.destroy();
    // Wait for the exit (a profile is written then), at most 20 s.
    await Promise.race([exited, new Promise((r) => setTimeout(r, 20_000))]);
    rmSync(dir, { recursive: true, force: true });
  };
  return { proc, host, port, call, stop };
}

/** Creates `n` tasks already running (`start: true`) and returns their ids and leases. */
export async function runningTasks(call, n, type, owner = (i) => `u${i % 10}`) {
  const out = [];
  for (let i = 0; i < n; i++) {
    const r = await call('POST', '/v1/tasks', { type, owner: owner(i), start: true, leaseMs: 600_000 });
    out.push({ id: r.task.id, lease: r.lease.token });
  }
  return out;
}

/** The value at quantile `p` of an ascending array. */
export const percentile = (sorted, p) => sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))];

/**
 * Command-line flags from their defaults: `--name value` where the default is a number (read as a
 * number) or a string, `--name` alone where it is a boolean; a `null` default is an optional string.
 */
export function benchArgs(defaults) {
  const options = {};
  for (const [name, d] of Object.entries(defaults)) {
    options[name] = typeof d === 'boolean' ? { type: 'boolean', default: d } : d === null ? { type: 'string' } : { type: 'string', default: String(d) };
  }
  const { values } = parseArgs({ options });
  return Object.fromEntries(Object.entries(values).map(([name, v]) => [name, typeof defaults[name] === 'number' ? Number(v) : v]));
}

/** Calls `onFrame(text)` for each SSE frame (the lines up to a blank line) an HTTP response carries. */
export function onSseFrames(res, onFrame) {
  let buf = '';
  res.setEncoding('utf8');
  res.on('data', (chunk) => {
    buf += chunk;
    let end;
    while ((end = buf.indexOf('\n\n')) >= 0) {
      const frame = buf.slice(0, end);
      buf = buf.slice(end + 2);
      onFrame(frame);
    }
  });
}

/** User + system CPU of a process, µs (Linux). */
export function cpuUs(pid) {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return ((Number(f[11]) + Number(f[12])) * 1e6) / 100; // utime, stime in clock ticks (USER_HZ = 100)
}

/** The load average (1, 5, 15 min), to print beside a figure. */
export const loadAverage = () => readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');

/**
 * A/B on one machine: a fresh server of this checkout, then of `against` (another checkout,
 * when given), alternately, `rounds` times; `run(server, name)` measures on each. Returns the
 * names in order.
 */
export async function alternate({ against, rounds }, run) {
  const roots = against ? [['this', root], ['against', against]] : [['this', root]];
  for (let round = 0; round < Number(rounds); round++) {
    for (const [name, serverRoot] of roots) {
      const server = await startServer([], { root: serverRoot });
      try {
        await run(server, name);
      } finally {
        await server.stop();
      }
    }
  }
  return roots.map(([name]) => name);
}

/** The median of numbers. */
export const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)];
