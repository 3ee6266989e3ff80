// Soak: a real server process (SQLite) under mixed load for a while, optionally with faults, then
// a reckoning. Writers create tasks, report progress (single and batched) and complete them;
// readers follow the whole log on SSE streams (resuming with Last-Event-ID) and by polling
// /v1/events. At the end every acknowledged write is looked for in the log and in the tasks.
//
// Prints: lost (acknowledged writes missing), gaps and dups (seen by any reader), 5xx answers
// (500s are bugs; 503s are honest refusals, e.g. while the server restarts), RSS, WAL size and
// event-loop lag (the server's /healthz round trip sampled every 200 ms, and the largest delay
// the server itself reports on /metrics).
//
// Run: node bench/soak.mjs [--duration 300] [--writers 16] [--readers 4] [--faults kill,freeze]
//   --faults kill    SIGKILL the server every 60 s and start it again on the same file and port
//   --faults freeze  SIGSTOP the server for 2 s every 30 s
import { spawn } from 'node:child_process';
import http from 'node:http';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ADMIN, benchArgs, onSseFrames, percentile } from './support.mjs';

const values = benchArgs({ duration: 300, writers: 16, readers: 4, faults: '' });
const durationMs = values.duration * 1000;
const faults = new Set(values.faults.split(',').filter(Boolean));
for (const f of faults) if (f !== 'kill' && f !== 'freeze') throw new Error(`--faults: unknown fault ${f} (kill, freeze)`);

const root = dirname(dirname(fileURLToPath(import.meta.url)));
const dir = mkdtempSync(join(tmpdir(), 'taskpulse-soak-'));
const db = join(dir, 'soak.db');
const port = await new Promise((resolve) => {
  const s = createServer().listen(0, '127.0.0.1', () => {
    const { port: free } = s.address();
    s.close(() => resolve(free));
  });
});
const base = `http://127.0.0.1:${port}`;

let proc = null;
async function startServer() {
  const p = (proc = spawn(process.execPath, [join(root, 'packages/cli/bin/taskpulse.mjs'), 'serve', '--port', String(port), '--db', db, '--log-level', 'warn', '--heartbeat-ms', '1000'], {
    env: { ...process.env, TASKPULSE_ADMIN_KEY: ADMIN },
    stdio: ['ignore', 'pipe', 'inherit'],
  }));
  await new Promise((resolve, reject) => {
    let out = '';
    p.stdout.on('data', (d) => {
      out += d;
      if (out.includes('listening on')) resolve();
    });
    p.once('exit', (c) => reject(new Error(`server exited ${c}`)));
  });
  p.removeAllListeners('exit');
}
await startServer();

// ------------------------------------------------------------------ HTTP with counting

const agent = new http.Agent({ keepAlive: true, maxSockets: 128 });
const answers = new Map(); // status → count
let networkErrors = 0;
function request(method, path, body) {
  return new Promise((resolve) => {
    const data = body === undefined ? undefined : JSON.stringify(body);
    const req = http.request(
      { host: '127.0.0.1', port, method, path, agent, timeout: 30_000,
        headers: { authorization: `Bearer ${ADMIN}`, ...(data ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(data) } : {}) } },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c) => (text += c));
        res.on('end', () => {
          answers.set(res.statusCode, (answers.get(res.statusCode) ?? 0) + 1);
          let json = null;
          try { json = text ? JSON.parse(text) : null; } catch {}
          resolve({ status: res.statusCode, body: json, text });
        });
        res.on('error', () => resolve({ status: 0, body: null }));
      },
    );
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', (error) => {
      networkErrors++;
      if (process.env.SOAK_DEBUG) console.error(method, path, error.message);
      resolve({ status: 0, body: null });
    });
    req.end(data);
  });
}
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
/** Retries until a 2xx or a final 4xx (a writer does what the SDK does: network errors and 5xx are retried). */
async function send(method, path, body) {
  for (let attempt = 0; ; attempt++) {
    const r = await request(method, path, body);
    if (r.status >= 200 && r.status < 500) return r;
    if (stopping && attempt > 50) return r;
    await sleep(Math.min(1000, 20 * 2 ** Math.min(attempt, 6)) * Math.random());
  }
}

// ------------------------------------------------------------------ writers

const acked = new Map(); // seq → what was acknowledged
const finals = new Map(); // taskId → { done, completed }
let stopping = false;
let writes = 0;

async function writer(w) {
  while (!stopping) {
    const created = await send('POST', '/v1/tasks', { type: 'soak', owner: `u${w % 8}`, start: true, leaseMs: 120_000, stages: [{ key: 'a' }, { key: 'b', weight: 3 }] });
    if (created.status !== 201) continue;
    writes++;
    const { task, lease } = created.body;
    acked.set(task.seq, task.id);
    const f = { done: 0, completed: false };
    finals.set(task.id, f);
    for (let i = 1; i <= 20 && !stopping; i++) {
      const update = { lease: lease.token, done: i, total: 20, ...(i === 10 ? { stage: 'b', log: `half way ${i}` } : {}) };
      const r = i % 4 === 0
        ? await send('POST', '/v1/progress', { updates: [{ id: task.id, ...update }] }).then((x) => (x.status === 200 && x.body.results[0].ok ? { status: 200, body: x.body.results[0] } : x))
        : await send('POST', `/v1/tasks/${task.id}/progress`, update);
      if (r.status !== 200) break; // the lease was lost (a restart can take longer than the lease): next task
      writes++;
      acked.set(r.body.seq, task.id);
      f.done = i;
    }
    if (stopping || f.done < 20) continue;
    const done = await send('POST', `/v1/tasks/${task.id}/complete`, { lease: lease.token, result: { w } });
    if (done.status === 200) {
      writes++;
      acked.set(done.body.seq, task.id);
      f.completed = true;
    }
  }
}

// ------------------------------------------------------------------ readers

const readers = [];
function checker(name) {
  const r = { name, last: 0, seen: new Set(), gaps: 0, dups: 0, events: 0 };
  r.take = (seq) => {
    if (seq <= r.last) r.dups++;
    else {
      if (seq !== r.last + 1) r.gaps++;
      r.last = seq;
      r.seen.add(seq);
    }
    r.events++;
  };
  readers.push(r);
  return r;
}

async function streamReader(i) {
  const r = checker(`stream ${i}`);
  while (!stopping) {
    await new Promise((resolve) => {
      const req = http.get({ host: '127.0.0.1', port, path: `/v1/stream?after=${r.last}`, headers: { authorization: `Bearer ${ADMIN}`, ...(r.last ? { 'last-event-id': String(r.last) } : {}) } }, (res) => {
        if (res.statusCode !== 200) {
          res.resume();
          return resolve();
        }
        onSseFrames(res, (block) => {
          const type = /^event: (.*)$/m.exec(block)?.[1];
          const id = /^id: (\d+)$/m.exec(block)?.[1];
          if (type && id && (type.startsWith('task.') || type.startsWith('notification.'))) r.take(Number(id));
        });
        res.on('end', resolve);
        res.on('error', resolve);
        const stop = setInterval(() => stopping && (clearInterval(stop), req.destroy()), 200);
        res.on('close', () => clearInterval(stop));
      });
      req.on('error', resolve);
    });
    if (!stopping) await sleep(200);
  }
}

/** The log's head: a cursor past it is answered with `reset` and the head. */
const headSeq = async () => (await request('GET', '/v1/events?after=9007199254740991&limit=1')).body?.head ?? Infinity;

/** Set once every writer has finished: the poller then reads up to the head and stops. */
let writersDone = false;

async function poller() {
  const r = checker('poller');
  // Not "stopping and an empty page": a write still in flight then (e.g. to a frozen server) is
  // acknowledged after the poller stopped, and would count as lost.
  while (!writersDone || r.last < (await headSeq())) {
    const page = await request('GET', `/v1/events?after=${r.last}&limit=1000&waitMs=1000`);
    if (page.status !== 200) {
      await sleep(200);
      continue;
    }
    for (const e of page.body.events) r.take(e.seq);
  }
}

// ------------------------------------------------------------------ samplers and faults

const rss = [];
const wal = [];
const healthz = [];
const serverLag = [];
const size = (f) => { try { return statSync(f).size; } catch { return 0; } };
const sampler = setInterval(async () => {
  try {
    const kb = Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${proc.pid}/status`, 'utf8'))?.[1]);
    if (kb) rss.push(kb * 1024);
  } catch {}
  wal.push(size(db + '-wal'));
  const m = await request('GET', '/metrics');
  const lag = /^\w*eventloop_lag_max_seconds (\S+)$/m.exec(m.text ?? ""); // the sample line, not its # HELP
  if (lag && Number.isFinite(Number(lag[1]))) serverLag.push(Number(lag[1]) * 1000);
}, 1000);
const pinger = setInterval(async () => {
  const t0 = performance.now();
  const r = await request('GET', '/healthz');
  if (r.status === 200) healthz.push(performance.now() - t0);
}, 200);
const faultLog = [];
const faultTimers = [];
if (faults.has('freeze')) {
  faultTimers.push(setInterval(() => {
    faultLog.push(`freeze at ${Math.round((Date.now() - t0) / 1000)} s`);
    proc.kill('SIGSTOP');
    setTimeout(() => proc.kill('SIGCONT'), 2000);
  }, 30_000));
}
if (faults.has('kill')) {
  faultTimers.push(setInterval(async () => {
    faultLog.push(`kill at ${Math.round((Date.now() - t0) / 1000)} s`);
    const old = proc;
    const exited = new Promise((r) => old.once('exit', r));
    old.kill('SIGKILL');
    await exited;
    await startServer();
  }, 60_000));
}

// ------------------------------------------------------------------ run

const t0 = Date.now();
const loops = [
  ...Array.from({ length: values.writers }, (_, w) => writer(w)),
  ...Array.from({ length: values.readers }, (_, i) => streamReader(i)),
];
const pollLoop = poller();
await sleep(durationMs);
for (const t of faultTimers) clearInterval(t);
stopping = true;
await Promise.all(loops);
writersDone = true;
await pollLoop;
clearInterval(sampler);
clearInterval(pinger);
const seconds = (Date.now() - t0) / 1000;

// Reckoning: every acknowledged write must be in the log, seen by every reader that read to the end,
// and every acknowledged report / completion must show in the task's final state.
const head = await headSeq();
const poll = readers.find((r) => r.name === 'poller');
const lostFromLog = [...acked.keys()].filter((seq) => !poll.seen.has(seq)).length;
let lostState = 0;
const ids = [...finals.keys()];
for (let i = 0; i < ids.length; i += 1) {
  const f = finals.get(ids[i]);
  if (f.done === 0) continue;
  const t = (await request('GET', `/v1/tasks/${ids[i]}`)).body;
  if (!t || ((t.progress?.done ?? 0) < f.done && t.status === 'running') || (f.completed && t.status !== 'completed')) {
    lostState++;
    if (lostState <= 5) console.error(`lost state: task ${ids[i]} acknowledged done ${f.done}${f.completed ? ', completed' : ''}; now ${t ? `${t.status}, done ${t.progress?.done}, seq ${t.seq}` : 'missing'}`);
  }
}
for (const seq of [...acked.keys()].filter((s) => !poll.seen.has(s)).slice(0, 5)) console.error(`lost from the log: seq ${seq} (task ${acked.get(seq)})`);
const sortedHz = [...healthz].sort((a, b) => a - b);
const mb = (b) => (b / 1024 / 1024).toFixed(1);
const fivexx = [...answers].filter(([s]) => s >= 500);
const report = {
  seconds: Math.round(seconds),
  faults: faultLog.length ? faultLog.join(', ') : 'none',
  'acknowledged writes': acked.size,
  'writes/s': Math.round(writes / seconds),
  head,
  lost: lostFromLog + lostState,
  'lost (log / task state)': `${lostFromLog} / ${lostState}`,
  gaps: readers.reduce((n, r) => n + r.gaps, 0),
  dups: readers.reduce((n, r) => n + r.dups, 0),
  'readers (events seen)': readers.map((r) => `${r.name}: ${r.events}`).join(', '),
  '5xx': fivexx.length ? Object.fromEntries(fivexx) : 0,
  'network errors (server down)': networkErrors,
  'RSS MB max / end': `${mb(Math.max(...rss))} / ${mb(rss.at(-1) ?? 0)}`,
  'WAL MB max / end': `${mb(Math.max(...wal))} / ${mb(wal.at(-1) ?? 0)}`,
  'DB MB': mb(size(db)),
  '/healthz round trip p50 / p99 / max ms': `${percentile(sortedHz, 0.5)?.toFixed(1)} / ${percentile(sortedHz, 0.99)?.toFixed(1)} / ${sortedHz.at(-1)?.toFixed(1)}`,
  'server event-loop delay max (prom-client, max of 1 s samples) ms': serverLag.length ? Math.max(...serverLag).toFixed(1) : 'n/a',
};
console.log(JSON.stringify(report, null, 2));
proc.kill('SIGTERM');
await new Promise((r) => proc.once('exit', r));
agent.destroy();
rmSync(dir, { recursive: true, force: true });
if (report.lost || report.gaps || report.dups || answers.get(500)) process.exitCode = 1;
