#!/usr/bin/env node
// TaskPulse vs BullMQ on BullMQ's own workload, side by side in one run: J jobs × U progress
// updates, worker concurrency C, each update awaited, one reader receiving every event.
// BullMQ: `job.updateProgress` → Redis (its own `redis-server` on a free port, no persistence) →
// `QueueEvents`. TaskPulse: a real server process on SQLite (WAL, synchronous=NORMAL: every
// event durable before it is acknowledged) → one SSE reader. The reader runs on its own thread
// (as a separate consumer would) and measures update → reader latency on the shared clock.
// Runs alternate A B A B so both see the same machine load.
//
//   node bench/vs-bullmq.mjs [--jobs 200] [--updates 500] [--concurrency 50] [--rounds 2]
//                            [--modes per-update,batched,sdk,slow] [--slow-us 100] [--warmup 20000]
//                            [--wire delta|whole]
//
// `--wire`: the TaskPulse reader's stream asks for deltas (`delta=true`, the default, as the client
// SDK does: a progress event carries what changed) or whole tasks (the contract's default).
//
// `--warmup N`: before the measured rounds, each mode runs once unmeasured with N updates in all
// (N / U jobs), on both systems: a fresh server spends a large part of its first tens of thousands
// of requests compiling (V8's JIT; see bench/cpu.mjs --warmup), which a long-running one does not.
//
// Modes (TaskPulse side; BullMQ always awaits `updateProgress` per update):
//   per-update  one `POST /v1/tasks/:id/progress` per update
//   batched     the updates waiting at the same moment sent as one `POST /v1/progress`
//   sdk         the worker SDK (`createWorker`, throttleMs 0: every update an event, `await ctx.flush()`)
//   slow        batched, but the reader spends --slow-us per event (both systems)
import { spawn } from 'node:child_process';
import http from 'node:http';
import net from 'node:net';
import { readFileSync } from 'node:fs';
import { benchArgs, onSseFrames } from './support.mjs';
import { Worker as Thread, isMainThread, parentPort, workerData } from 'node:worker_threads';
import { fileURLToPath } from 'node:url';

const now = () => performance.timeOrigin + performance.now(); // comparable across threads

// ------------------------------------------------------------------ reader thread

/** Receives progress events until every one arrived (or none came for `idleMs`) and reports. */
async function readerThread(d) {
  const seen = new Uint8Array(d.jobs * d.updates);
  const lat = new Float64Array(d.jobs * d.updates);
  let received = 0;
  let lastAt = 0;
  let reconnects = 0;
  const spin = (us) => {
    const until = performance.now() + us / 1000;
    while (performance.now() < until);
  };
  const onEvent = (j, i, t) => {
    if (d.slowUs > 0) spin(d.slowUs);
    const k = j * d.updates + (i - 1);
    if (k < 0 || k >= seen.length || seen[k]) return;
    seen[k] = 1;
    lastAt = now();
    lat[received++] = lastAt - t;
  };
  let stop;
  if (d.system === 'bullmq') {
    const { QueueEvents } = await import('bullmq');
    const qe = new QueueEvents(d.queue, { connection: d.connection });
    qe.on('progress', ({ data }) => onEvent(data.j, data.i, data.t));
    await qe.waitUntilReady();
    stop = () => qe.close();
  } else {
    stop = await sseReader(d, onEvent, () => reconnects++);
  }
  parentPort.postMessage({ ready: true });
  const producersDone = await new Promise((r) => parentPort.once('message', r));
  const expected = d.jobs * d.updates;
  let last = -1;
  let lastChange = Date.now();
  while (received < expected) {
    await new Promise((r) => setTimeout(r, 20));
    if (received !== last) {
      last = received;
      lastChange = Date.now();
    } else if (Date.now() - lastChange > d.idleMs) break;
  }
  await stop();
  const sorted = lat.subarray(0, received).sort();
  const q = (p) => (received ? sorted[Math.min(received - 1, Math.floor(received * p))] : NaN);
  parentPort.postMessage({ received, expected, lastAt, p50: q(0.5), p99: q(0.99), max: q(1), reconnects, producersDone });
}

/** An SSE reader of TaskPulse that resumes from its cursor whenever the server closes it. */
async function sseReader(d, onEvent, onReconnect) {
  let cursor = null;
  let closed = false;
  let req;
  const re = /"message":"(\d+):(\d+):([\d.]+)"/;
  const open = () =>
    new Promise((resolve) => {
      const headers = { authorization: `Bearer ${d.token}` };
      if (cursor !== null) headers['last-event-id'] = String(cursor);
      // `--wire delta` (default, as the client SDK asks): progress events carry what changed.
      const delta = d.wire === 'delta' ? '&delta=true' : '';
      req = http.request({ host: d.host, port: d.port, path: `/v1/stream?type=${d.type}&events=task.updated${delta}`, agent: false, headers });
      req.on('response', (res) => {
        if (cursor !== null) resolve();
        onSseFrames(res, (frame) => {
          const id = /^id: (\d+)$/m.exec(frame);
          if (id) cursor = Number(id[1]);
          if (frame.includes('event: snapshot')) resolve();
          if (!frame.includes('event: task.updated')) return;
          const m = re.exec(frame);
          if (m) onEvent(Number(m[1]), Number(m[2]), Number(m[3]));
        });
        // Closed by the server — ended with a `retry:` frame, or cut off (a lagging or stalled
        // reader) — the reader resumes from its cursor either way.
        let resumed = false;
        const resume = () => {
          if (closed || resumed) return;
          resumed = true;
          onReconnect();
          setTimeout(() => void open(), 10);
        };
        res.on('end', resume);
        res.on('close', resume);
        res.on('error', () => {});
      });
      req.on('error', () => {
        if (!closed) setTimeout(() => void open(), 50);
      });
      req.end();
    });
  await open();
  return async () => {
    closed = true;
    req.destroy();
  };
}

// ------------------------------------------------------------------ main thread

async function main() {
  const a = benchArgs({ jobs: 200, updates: 500, concurrency: 50, rounds: 2, modes: 'per-update,batched,sdk,slow', 'slow-us': 100, 'idle-ms': 3000, warmup: 20000, wire: 'delta' });
  const { jobs: JOBS, updates: UPDATES, concurrency: CONC, rounds: ROUNDS, 'slow-us': SLOW_US, 'idle-ms': IDLE_MS, wire: WIRE } = a;
  if (WIRE !== 'delta' && WIRE !== 'whole') throw new Error('--wire is delta or whole');
  const modes = a.modes.split(',').map((m) => m.trim()).filter(Boolean);
  for (const m of modes) if (!['per-update', 'batched', 'sdk', 'slow'].includes(m)) throw new Error(`unknown mode ${m}`);

  const { startServer, ADMIN } = await import('./support.mjs');
  const bullmq = await import('bullmq');
  const redis = await startRedis();
  const connection = { host: '127.0.0.1', port: redis.port, maxRetriesPerRequest: null };
  const server = await startServer();
  const results = [];
  let round = 0;
  try {
    console.log(`TaskPulse vs BullMQ ${readBullmqVersion()}: ${JOBS} jobs × ${UPDATES} updates, concurrency ${CONC}, ${ROUNDS} round(s) per mode, Node ${process.version}`);
    console.log(`TaskPulse: SQLite WAL synchronous=NORMAL (every event durable before its ack); BullMQ: redis-server ${redis.version} on :${redis.port}, no persistence`);
    if (a.warmup > 0) {
      const jobs = Math.max(1, Math.ceil(a.warmup / UPDATES));
      for (const mode of modes) {
        const common = { jobs, updates: UPDATES, slowUs: 0, idleMs: IDLE_MS, wire: WIRE };
        await runTaskPulse(server, ADMIN, mode, `warm-${mode}`, { ...common, system: 'taskpulse' }, CONC);
        await runBullmq(bullmq, connection, redis.pid, `warm-${mode}`, { ...common, system: 'bullmq' }, CONC);
      }
      console.log(`warm-up: ${jobs * UPDATES} updates per mode on each system, not measured`);
    }
    for (const mode of modes) {
      for (let r = 0; r < ROUNDS; r++) {
        for (const system of r % 2 === 0 ? ['taskpulse', 'bullmq'] : ['bullmq', 'taskpulse']) {
          round++;
          const slowUs = mode === 'slow' ? SLOW_US : 0;
          const common = { jobs: JOBS, updates: UPDATES, slowUs, idleMs: IDLE_MS, system, wire: WIRE };
          const out =
            system === 'bullmq'
              ? await runBullmq(bullmq, connection, redis.pid, `vs-${round}`, common, CONC)
              : await runTaskPulse(server, ADMIN, mode, `vs-${round}`, common, CONC);
          const row = { mode, system, ...out };
          results.push(row);
          console.log(formatRow(row));
        }
      }
    }
    console.log('');
    console.log('median per mode (TaskPulse / BullMQ events/s):');
    for (const mode of modes) {
      const med = (sys, f) => median(results.filter((x) => x.mode === mode && x.system === sys).map(f));
      const tp = med('taskpulse', (x) => x.rate), bm = med('bullmq', (x) => x.rate);
      const lost = (sys) => results.filter((x) => x.mode === mode && x.system === sys).map((x) => x.lost).join('/');
      console.log(
        `  ${mode.padEnd(10)} ${fmt(tp)} / ${fmt(bm)} = ${(tp / bm).toFixed(2)}×; server CPU/report ${med('taskpulse', (x) => x.cpuUs).toFixed(1)} µs vs redis ${med('bullmq', (x) => x.cpuUs).toFixed(1)} µs; lost ${lost('taskpulse')} vs ${lost('bullmq')}`,
      );
    }
  } finally {
    await server.stop();
    redis.stop();
  }
}

function formatRow(x) {
  return `${x.mode.padEnd(10)} ${x.system.padEnd(9)} ${fmt(x.rate)} events/s  p50 ${x.p50.toFixed(1)} p99 ${x.p99.toFixed(1)} max ${x.max.toFixed(1)} ms  lost ${x.lost} (${(100 * x.lost / x.expected).toFixed(1)} %)  ${x.system === 'bullmq' ? 'redis' : 'server'} CPU ${x.cpuUs.toFixed(1)} µs/report  bench CPU ${x.benchCpuUs.toFixed(1)} µs/report${x.perRequest ? `  ~${x.perRequest.toFixed(1)} updates/request` : ''}${x.reconnects ? `  resumed ${x.reconnects}×` : ''}`;
}

const fmt = (n) => Math.round(n).toLocaleString('en').padStart(7);
const median = (xs) => {
  const s = [...xs].sort((p, q) => p - q);
  return s.length ? (s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2) : NaN;
};

function readBullmqVersion() {
  return JSON.parse(readFileSync(new URL('../node_modules/bullmq/package.json', import.meta.url), 'utf8')).version;
}

/** CPU time of another process in µs (utime + stime, clock ticks of 10 ms). */
function cpuOf(pid) {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(f[11]) + Number(f[12])) * 10_000;
}

/** Starts the reader thread and waits until it listens. */
async function startReader(data) {
  const t = new Thread(fileURLToPath(import.meta.url), { workerData: data });
  await new Promise((resolve, reject) => {
    t.once('message', resolve);
    t.once('error', reject);
  });
  return {
    finish: () =>
      new Promise((resolve, reject) => {
        t.once('message', (m) => {
          void t.terminate();
          resolve(m);
        });
        t.once('error', reject);
        t.postMessage(now());
      }),
  };
}

async function measure(pid, reader, produce) {
  const cpu0 = cpuOf(pid);
  const bench0 = process.cpuUsage();
  const start = now();
  const extra = (await produce()) ?? {};
  const r = await reader.finish();
  const cpu = cpuOf(pid) - cpu0;
  const b = process.cpuUsage(bench0);
  const n = Math.max(1, r.received);
  return {
    rate: r.received / ((r.lastAt - start) / 1000), p50: r.p50, p99: r.p99, max: r.max, expected: r.expected,
    lost: r.expected - r.received, cpuUs: cpu / n, benchCpuUs: (b.user + b.system) / n, reconnects: r.reconnects, ...extra,
  };
}

async function runBullmq({ Queue, Worker }, connection, redisPid, name, common, concurrency) {
  const queue = new Queue(name, { connection });
  await queue.waitUntilReady();
  const reader = await startReader({ ...common, queue: name, connection });
  await queue.addBulk(Array.from({ length: common.jobs }, (_, j) => ({ name: 'job', data: { j } })));
  let done = 0;
  const out = await measure(redisPid, reader, async () => {
    let finished;
    const all = new Promise((r) => (finished = r));
    const worker = new Worker(
      name,
      async (job) => {
        for (let i = 1; i <= common.updates; i++) await job.updateProgress({ j: job.data.j, i, t: now() });
        if (++done === common.jobs) finished();
      },
      { connection, concurrency },
    );
    await all;
    await worker.close();
  });
  await queue.obliterate({ force: true });
  await queue.close();
  return out;
}

async function runTaskPulse(server, token, mode, type, common, concurrency) {
  const { call, host, port } = server;
  for (let j = 0; j < common.jobs; j++) await call('POST', '/v1/tasks', { type, owner: `u${j % 10}`, input: { j } });
  const reader = await startReader({ ...common, host, port, token, type });
  const message = (j, i) => `${j}:${i}:${now().toFixed(3)}`;
  const sdk = mode === 'sdk' ? await loadSdk() : null; // loaded before the clock starts
  return measure(server.proc.pid, reader, async () => {
    if (sdk) return runSdk(sdk, server, token, type, common, concurrency, message);
    let requests = 0;
    let sent = 0;
    const batch = makeBatcher(call, () => requests++);
    const report = mode === 'per-update'
      ? (id, u) => (requests++, call('POST', `/v1/tasks/${id}/progress`, u))
      : (id, u) => batch({ id, ...u });
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        for (;;) {
          const claimed = await call('POST', '/v1/tasks/claim', { types: [type], leaseMs: 600_000 });
          if (!claimed) return;
          const { id } = claimed.task, lease = claimed.lease.token, j = claimed.task.input.j;
          for (let i = 1; i <= common.updates; i++) {
            await report(id, { lease, done: i, total: common.updates, message: message(j, i) });
            sent++;
          }
          await call('POST', `/v1/tasks/${id}/complete`, { lease, result: { j } });
        }
      }),
    );
    return { perRequest: sent / requests };
  });
}

/** Sends the updates that wait at the same moment as one `POST /v1/progress`. */
function makeBatcher(call, onRequest) {
  let queue = [];
  let scheduled = false;
  const flush = async () => {
    scheduled = false;
    const batch = queue;
    queue = [];
    onRequest();
    try {
      const { results } = await call('POST', '/v1/progress', { updates: batch.map((b) => b.u) });
      results.forEach((x, i) => (x.ok ? batch[i].resolve(x) : batch[i].reject(new Error(`${x.error.code}: ${x.error.message}`))));
    } catch (e) {
      for (const b of batch) b.reject(e);
    }
  };
  return (u) =>
    new Promise((resolve, reject) => {
      queue.push({ u, resolve, reject });
      if (!scheduled) {
        scheduled = true;
        setImmediate(flush);
      }
    });
}

let sdkModule = null;
/** The worker SDK from its TypeScript sources (as packages/cli/bin/taskpulse.mjs loads the CLI): no build needed. */
async function loadSdk() {
  if (sdkModule) return sdkModule;
  const { register } = await import('tsx/esm/api');
  const { register: registerHook } = await import('node:module');
  register();
  registerHook('data:text/javascript,' + encodeURIComponent(`export function resolve(s, c, next) { return next(s, { ...c, conditions: [...c.conditions, '@taskpulse/source'] }); }`));
  return (sdkModule = await import('@taskpulse/worker'));
}

async function runSdk({ createWorker }, server, token, type, common, concurrency, message) {
  let done = 0;
  let finished;
  const all = new Promise((r) => (finished = r));
  const worker = createWorker({
    url: `http://${server.host}:${server.port}`, apiKey: token, types: [type], concurrency, throttleMs: 0, leaseMs: 600_000,
    claimWaitMs: 200, logger: {},
    async handler(task, ctx) {
      const j = task.input.j;
      for (let i = 1; i <= common.updates; i++) {
        ctx.progress(i, common.updates, message(j, i));
        await ctx.flush();
      }
      if (++done === common.jobs) setImmediate(finished);
      return { j };
    },
  });
  await all;
  await worker.close();
  const s = worker.stats();
  return { perRequest: s.updatesSent / Math.max(1, s.batches) };
}

// ------------------------------------------------------------------ redis

async function freePort() {
  const srv = net.createServer();
  await new Promise((r) => srv.listen(0, '127.0.0.1', r));
  const { port } = srv.address();
  await new Promise((r) => srv.close(r));
  return port;
}

/** A throwaway `redis-server` (no persistence) on a free port; never the shared one. */
async function startRedis() {
  const port = await freePort();
  const proc = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: ['ignore', 'pipe', 'inherit'] });
  const version = await new Promise((resolve, reject) => {
    let out = '';
    proc.stdout.on('data', (d) => {
      out += d;
      if (/Ready to accept connections/.test(out)) resolve(/version=([\d.]+)/.exec(out)?.[1] ?? '?');
    });
    proc.once('exit', (c) => reject(new Error(`redis-server exited ${c}: ${out}`)));
  });
  return { port, pid: proc.pid, version, stop: () => proc.kill('SIGTERM') };
}

// Last, so every declaration above is initialized before it runs.
if (!isMainThread) await readerThread(workerData);
else await main();
