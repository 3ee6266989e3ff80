#!/usr/bin/env node
// Fan-out benchmark: many SSE readers on one server. Viewers each follow their own tasks (as
// browsers do); a few staff streams follow everything. Prints delivery latency (report ack →
// reader), frames delivered per second and the server's memory per open stream.
//
//   node bench/fanout.mjs [--viewers 1000] [--owners 200] [--staff 5] [--rate 500] [--seconds 10] [--wire whole|delta]
//
// Saturation mode: for each K, K streams that all receive every event, and a report rate that
// ramps ×1.4 per step until delivery falls behind (< 90 % of the frames offered in a step). Beside
// it, in the same run, a bare `node:http` SSE server doing the same work (each report answered,
// one frame of the same size built once and written to K sockets): the floor. Prints the maximum
// delivered frames/s of both, the ratio, and the server's RSS per open stream.
//
// The K streams are read by `--readers` processes and the two servers measured alternately,
// `--rounds` times per K (the medians are printed). RSS per stream: the server's VmRSS after a full
// garbage collection (`--expose-gc`, triggered by SIGUSR2) with its K streams open and idle, minus
// the same reading before they opened, over K.
//
//   node bench/fanout.mjs --saturate [--k 1000,5000,10000] [--step-seconds 2] [--max-steps 14] [--readers 4] [--rounds 1]
import http from 'node:http';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import { fork, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { ADMIN, benchArgs, loadAverage, median, onSseFrames, percentile as pct, runningTasks, startServer } from './support.mjs';

const a = benchArgs({ viewers: 1000, owners: 200, staff: 5, rate: 500, seconds: 10, saturate: false, k: '1000,5000,10000', 'step-seconds': 2, 'max-steps': 14, readers: 4, rounds: 1, role: 'bench', wire: 'whole' });
if (a.wire !== 'whole' && a.wire !== 'delta') throw new Error('--wire is whole or delta');
// `--wire delta`: streams ask for deltas (`delta=true`), as the client SDK does; each then keeps the
// seq of every task it was sent (the memory per stream that costs is in the RSS figures).
const STREAM = a.wire === 'delta' ? '/v1/stream?delta=true' : '/v1/stream';

async function steady() {
const { viewers: VIEWERS, owners: OWNERS, staff: STAFF, rate: RATE, seconds: SECONDS } = a;
let server;
let call;

const rssKiB = () => rssOf(server.proc.pid);
const sent = new Map();
const latencies = [];
let frames = 0;

function openStream(token) {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: server.host, port: server.port, path: STREAM, agent: false, headers: { authorization: `Bearer ${token}` } });
    req.on('response', (res) => {
      onSseFrames(res, (frame) => {
        if (frame.includes('event: snapshot')) resolve(req);
        const m = /"message":"m(\d+)"/.exec(frame);
        if (m) {
          frames++;
          const t0 = sent.get(m[1]);
          if (t0 !== undefined) latencies.push(performance.now() - t0);
        }
      });
    });
    req.on('error', reject);
    req.end();
  });
}

try {
  server = await startServer();
  call = server.call;
  const owners = Array.from({ length: OWNERS }, (_, i) => `user_${i}`);
  const tasks = await runningTasks(call, OWNERS, 'fanout', (i) => owners[i]);
  const tokens = await Promise.all(owners.map((owner) => call('POST', '/v1/tokens', { owner, ttlSeconds: 3600 }).then((r) => r.token)));
  const rssBefore = rssKiB();
  const streams = [];
  for (let i = 0; i < VIEWERS; i++) streams.push(await openStream(tokens[i % OWNERS]));
  for (let i = 0; i < STAFF; i++) streams.push(await openStream(ADMIN));
  await new Promise((r) => setTimeout(r, 500));
  const rssStreams = rssKiB();

  const total = RATE * SECONDS;
  const t0 = performance.now();
  const inflight = [];
  for (let n = 0; n < total; n++) {
    const due = t0 + (n * 1000) / RATE;
    const wait = due - performance.now();
    if (wait > 1) await new Promise((r) => setTimeout(r, wait));
    const t = tasks[n % tasks.length];
    sent.set(String(n), performance.now());
    inflight.push(call('POST', `/v1/tasks/${t.id}/progress`, { lease: t.lease, done: n, total: total + 1, message: `m${n}` }));
    if (inflight.length > 100) await Promise.all(inflight.splice(0));
  }
  await Promise.all(inflight);
  const expected = total * (VIEWERS / OWNERS + STAFF);
  const deadline = Date.now() + 10_000;
  while (frames < expected && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  const elapsed = (performance.now() - t0) / 1000;
  const rssAfter = rssKiB();
  latencies.sort((x, y) => x - y);
  console.log(`TaskPulse fan-out benchmark: ${VIEWERS} viewer streams over ${OWNERS} owners + ${STAFF} staff streams, ${RATE} reports/s for ${SECONDS} s (Node ${process.version})`);
  console.log(`frames delivered: ${frames.toLocaleString('en')} of ${Math.round(expected).toLocaleString('en')} expected (${Math.round(frames / elapsed).toLocaleString('en')}/s)`);
  console.log(`report → reader latency: p50 ${pct(latencies, 0.5).toFixed(1)} ms, p99 ${pct(latencies, 0.99).toFixed(1)} ms, max ${latencies.at(-1).toFixed(1)} ms`);
  console.log(`server RSS: ${(rssBefore / 1024).toFixed(0)} MiB before streams, ${(rssStreams / 1024).toFixed(0)} MiB with ${streams.length} streams (${((rssStreams - rssBefore) / streams.length).toFixed(1)} KiB per stream), ${(rssAfter / 1024).toFixed(0)} MiB after the run`);
  for (const s of streams) s.destroy();
} finally {
  await server?.stop();
}
}

/** Resident memory of a process in KiB. */
function rssOf(pid) {
  return Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))[1]);
}

// ------------------------------------------------------------------ saturation mode
//
// The load generator must not be what is measured: the K reader sockets are spread over
// `--readers` processes (each its own event loop and heap), each opening its share on raw TCP
// and counting frame boundaries with Buffer.indexOf (no HTTP client, no JSON.parse per frame).
// Readers push their counts (and, from their first stream, the receive time of each report's
// frame: latency) to this process every 20 ms; this process only issues the reports. The
// TaskPulse server and the floor are measured the same way, alternately, `--rounds` times per K.

const PATTERN = Buffer.from('event: task.updated');
const MESSAGE = Buffer.from('"message":"m');
const nowMs = () => performance.timeOrigin + performance.now();

/** A reader process: opens its share of streams on command, counts their frames, reports to the parent. */
function readerProcess() {
  const c = { frames: 0, closed: 0 };
  let sockets = [];
  const sampled = { list: [] };
  const timer = setInterval(() => {
    process.send({ type: 'count', frames: c.frames, closed: c.closed, samples: sampled.list });
    sampled.list = [];
  }, 20);
  process.on('disconnect', () => process.exit(0));
  process.on('message', async (m) => {
    if (m.cmd === 'open') {
      c.frames = 0;
      c.closed = 0;
      try {
        for (let i = 0; i < m.n; i += 100) {
          sockets.push(...(await Promise.all(Array.from({ length: Math.min(100, m.n - i) }, (_, j) => rawStream(m, c, i + j === 0 ? sampled : null)))));
        }
        process.send({ type: 'opened', frames: c.frames, closed: c.closed, samples: [] });
      } catch (error) {
        process.send({ type: 'error', message: String(error) });
      }
    } else if (m.cmd === 'close') {
      for (const s of sockets) s.destroy();
      sockets = [];
      process.send({ type: 'closed' });
    } else if (m.cmd === 'exit') {
      clearInterval(timer);
      process.exit(0);
    }
  });
  // The first stream of each reader also records when each report's frame arrived (`sampleTo`).
  function rawStream({ host, port, path, headers }, counter, sampleTo) {
    return new Promise((resolve, reject) => {
      const sock = net.connect({ host, port });
      const head = Object.entries({ host: `${host}:${port}`, accept: 'text/event-stream', ...headers }).map(([k, v]) => `${k}: ${v}\r\n`).join('');
      sock.write(`GET ${path} HTTP/1.1\r\n${head}\r\n`);
      let carry = null;
      let opened = false;
      let answer = '';
      sock.on('data', (c) => {
        if (!opened) {
          // Open once the snapshot has arrived: a stream still catching up is not idle (its RSS is
          // not settled) and not live yet (it would read the first reports from the store).
          answer += c.toString('latin1');
          if (!answer.startsWith('HTTP/1.1 200') && answer.length >= 12) {
            sock.destroy();
            return reject(new Error(`stream: ${answer.slice(0, 40)}`));
          }
          if (!answer.includes('event: snapshot')) return;
          opened = true;
          answer = '';
          resolve(sock);
        }
        // Frames are counted by their `event:` line; one may straddle two chunks (the seam).
        for (let i = c.indexOf(PATTERN); i >= 0; i = c.indexOf(PATTERN, i + PATTERN.length)) counter.frames++;
        if (carry !== null && Buffer.concat([carry, c.subarray(0, PATTERN.length - 1)]).indexOf(PATTERN) >= 0) counter.frames++;
        carry = c.subarray(Math.max(0, c.length - (PATTERN.length - 1)));
        if (sampleTo) {
          const t = nowMs();
          for (let i = c.indexOf(MESSAGE); i >= 0; i = c.indexOf(MESSAGE, i + MESSAGE.length)) {
            let n = 0;
            for (let j = i + MESSAGE.length; c[j] >= 48 && c[j] <= 57; j++) n = n * 10 + c[j] - 48;
            sampleTo.list.push(n, t);
          }
        }
      });
      sock.on('close', () => (opened ? counter.closed++ : reject(new Error('stream closed before its answer'))));
      sock.on('error', () => {}); // a reset after the server closed a lagging stream: counted by 'close'
    });
  }
}

/** Forks `n` reader processes; `open` spreads K streams over them, `frames`/`closed` sum their counts. */
async function startReaders(n) {
  const readers = Array.from({ length: n }, () => fork(fileURLToPath(import.meta.url), ['--role', 'reader'], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] }));
  const counts = readers.map(() => ({ frames: 0, closed: 0 }));
  const sentAt = new Map(); // report number → when it was issued
  let latencies = [];
  const waiters = readers.map(() => null);
  readers.forEach((r, i) =>
    r.on('message', (m) => {
      if (m.frames !== undefined) counts[i] = m;
      if (m.type === 'count') {
        for (let j = 0; j < m.samples.length; j += 2) {
          const t0 = sentAt.get(m.samples[j]);
          if (t0 !== undefined) latencies.push(m.samples[j + 1] - t0);
        }
      } else waiters[i]?.(m);
    }),
  );
  const all = (cmd, payload) =>
    Promise.all(
      readers.map(
        (r, i) =>
          new Promise((resolve, reject) => {
            waiters[i] = (m) => (m.type === 'error' ? reject(new Error(m.message)) : resolve(m));
            r.send({ cmd, ...payload(i) });
          }),
      ),
    );
  return {
    open: (k, target) => all('open', (i) => ({ ...target, n: Math.floor(k / n) + (i < k % n ? 1 : 0) })),
    close: () => all('close', () => ({})),
    stop: () => readers.forEach((r) => r.send({ cmd: 'exit' })),
    get frames() {
      return counts.reduce((s, c) => s + c.frames, 0);
    },
    get closed() {
      return counts.reduce((s, c) => s + c.closed, 0);
    },
    /** Records when report `i` was issued. */
    sent: (i) => sentAt.set(i, nowMs()),
    /** The latencies measured since the last call (ms), sorted. */
    takeLatencies: () => {
      const out = latencies.sort((x, y) => x - y);
      latencies = [];
      return out;
    },
    failedReports: 0,
  };
}

/** Ramps the report rate until delivery falls behind; returns the best delivered frames/s. */
async function ramp(k, report, counter, stepSeconds, maxSteps) {
  let rate = Math.min(200, Math.max(2, Math.round(20_000 / k)));
  let best = 0;
  let bestRate = 0;
  let bestLatency = '';
  const steps = [];
  const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
  for (let step = 0; step < maxSteps; step++) {
    const n = Math.round(rate * stepSeconds);
    const before = counter.frames;
    counter.takeLatencies();
    const t0 = performance.now();
    const inflight = new Set();
    for (let i = 0; i < n; i++) {
      const wait = t0 + (i * 1000) / rate - performance.now();
      if (wait > 1) await sleep(wait);
      // A failed report (a keep-alive socket reset under load) is counted, not fatal: its frames are simply missing.
      const p = report().catch(() => counter.failedReports++).finally(() => inflight.delete(p));
      inflight.add(p);
      if (inflight.size > 64) await Promise.race(inflight);
    }
    // The load generator could not even issue the step's reports in time: what follows measures it, not the server.
    const senderBound = (performance.now() - t0) / 1000 > stepSeconds * 1.25;
    await Promise.all(inflight);
    // What arrives within the step (plus a quarter of it for frames in flight) counts.
    const until = t0 + stepSeconds * 1250;
    const offered = n * k;
    while (counter.frames - before < offered && performance.now() < until) await sleep(10);
    await sleep(25); // the readers' counts are at most 20 ms old
    const elapsed = (performance.now() - t0) / 1000 - 0.025;
    const delivered = counter.frames - before;
    const perSecond = delivered / elapsed;
    const lat = counter.takeLatencies();
    const latency = lat.length ? `${pct(lat, 0.5).toFixed(1)} / ${pct(lat, 0.99).toFixed(1)} ms` : 'n/a';
    steps.push(`${rate}/s→${Math.round(perSecond / 1000)}k (${Math.round((100 * delivered) / offered)} %)${senderBound ? ' (sender-bound)' : ''}`);
    if (perSecond > best) [best, bestRate, bestLatency] = [perSecond, rate, latency];
    // Let the backlog drain before the next step so each step starts clean.
    const drainUntil = performance.now() + 5000;
    while (counter.frames - before < offered && performance.now() < drainUntil) await sleep(20);
    if (delivered < 0.9 * offered || counter.closed > 0 || senderBound) break;
    rate = Math.ceil(rate * 1.4);
  }
  return { best, bestRate, bestLatency, steps };
}

/**
 * Both servers run with `--expose-gc` and collect garbage on SIGUSR2 (GC_HOOK), so their RSS is read
 * without the garbage of opening the streams (snapshot frames, request parsing) that a collector
 * not yet run would count as memory per stream.
 */
const GC_HOOK = `--import=data:text/javascript,process.on('SIGUSR2',()=>globalThis.gc())`;

/** RSS (KiB) after a full collection, once settled: read every 250 ms until two readings 1 s apart differ by < 1 %, at most 8 s. */
async function idleRss(pid) {
  const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
  for (let i = 0; i < 2; i++) {
    process.kill(pid, 'SIGUSR2');
    await sleep(300);
  }
  const readings = [rssOf(pid)];
  for (let i = 0; i < 32; i++) {
    await new Promise((r) => setTimeout(r, 250));
    readings.push(rssOf(pid));
    if (readings.length > 4 && Math.abs(readings.at(-1) - readings.at(-5)) < 0.01 * readings.at(-1)) break;
  }
  return readings.at(-1);
}

async function saturate() {
  const ks = a.k.split(',').map(Number);
  const stepSeconds = a['step-seconds'];
  const maxSteps = a['max-steps'];
  const fmt = (x) => Math.round(x).toLocaleString('en');
  console.log(`Fan-out saturation: K streams all receiving every event, read by ${a.readers} reader processes; rate ×1.4 per ${stepSeconds} s step until < 90 % delivered; TaskPulse and the floor alternately, ${a.rounds} round(s) (Node ${process.version}, load ${loadAverage()})`);
  const readers = await startReaders(a.readers);
  process.env.BENCH_SERVER_NODE_ARGS = `${process.env.BENCH_SERVER_NODE_ARGS ?? ''} --expose-gc ${GC_HOOK}`;
  try {
    for (const k of ks) {
      const results = { tp: [], floor: [] };
      for (let round = 0; round < a.rounds; round++) {
        // TaskPulse: K viewer streams of one owner (every report goes to all of them).
        // K streams of one viewer: past the default stream-open limit per credential (6,000 a minute).
        const server = await startServer(['--rate-limit-streams-per-credential', '0']);
        let tp;
        let template;
        try {
          const owner = 'user_0';
          const tasks = await runningTasks(server.call, 10, 'fanout', () => owner);
          const { token } = await server.call('POST', '/v1/tokens', { owner, ttlSeconds: 3600 });
          template = await server.call('GET', `/v1/tasks/${tasks[0].id}`);
          tp = await measure(server.proc.pid, k, { host: server.host, port: server.port, path: STREAM, headers: { authorization: `Bearer ${token}` } }, (i) => {
            const t = tasks[i % tasks.length];
            return server.call('POST', `/v1/tasks/${t.id}/progress`, { lease: t.lease, done: i, total: 1e9, message: `m${i}` });
          });
        } finally {
          await server.stop();
        }
        results.tp.push(tp);
        // The floor: a bare node:http SSE server, same frames, same reports, nothing stored.
        const floor = await startFloor(template);
        try {
          results.floor.push(await measure(floor.proc.pid, k, { host: '127.0.0.1', port: floor.port, path: '/stream', headers: {} }, (i) => floor.report({ done: i, total: 1e9, message: `m${i}` })));
        } finally {
          await floor.stop();
        }
        const [t, f] = [results.tp.at(-1), results.floor.at(-1)];
        console.log(`   K=${fmt(k)} round ${round + 1} (load ${loadAverage()}): TaskPulse ${fmt(t.best)} frames/s at ${t.bestRate} reports/s (p50/p99 ${t.bestLatency}), floor ${fmt(f.best)} at ${f.bestRate} (${f.bestLatency}); RSS per stream ${t.rssPerStream.toFixed(1)} / ${f.rssPerStream.toFixed(1)} KiB${t.closedByServer ? `; ${t.closedByServer} lagging streams closed by the server at the last step` : ''}${t.failedReports + f.failedReports ? `; failed reports ${t.failedReports} / ${f.failedReports}` : ''}`);
        console.log(`      steps TaskPulse: ${t.steps.join(' ')}`);
        console.log(`      steps floor:     ${f.steps.join(' ')}`);
      }
      const tpBest = median(results.tp.map((r) => r.best));
      const flBest = median(results.floor.map((r) => r.best));
      console.log(
        `K=${fmt(k)}: TaskPulse max ${fmt(tpBest)} frames/s (median of ${a.rounds} round${a.rounds > 1 ? 's' : ''}), floor ${fmt(flBest)} frames/s → ${(100 * tpBest / flBest).toFixed(0)} % of the floor; TaskPulse RSS ${median(results.tp.map((r) => r.rssPerStream)).toFixed(1)} KiB per stream (floor ${median(results.floor.map((r) => r.rssPerStream)).toFixed(1)} KiB); load ${loadAverage()}`,
      );
    }
  } finally {
    readers.stop();
  }

  /** Opens K streams on the readers, reads the server's settled RSS per stream, ramps, closes them. */
  async function measure(pid, k, target, report) {
    const rss0 = await idleRss(pid);
    await readers.open(k, target);
    const rss1 = await idleRss(pid);
    let sent = 0;
    // Numbered across steps: a report that repeats a task's current progress and message changes
    // nothing, so the server (rightly) sends no event for it.
    readers.failedReports = 0;
    const r = await ramp(k, () => {
      const i = sent++;
      readers.sent(i);
      return report(i);
    }, readers, stepSeconds, maxSteps);
    const closedByServer = readers.closed; // before we close them ourselves
    await readers.close();
    return { ...r, rssPerStream: (rss1 - rss0) / k, closedByServer, failedReports: readers.failedReports };
  }
}

/** Starts the floor server in its own process (as the TaskPulse server runs in its own). */
async function startFloor(template) {
  const proc = spawn(process.execPath, ['--expose-gc', GC_HOOK, fileURLToPath(import.meta.url), '--role', 'floor'], {
    env: { ...process.env, FLOOR_TEMPLATE: JSON.stringify(template) },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const port = await new Promise((resolve, reject) => {
    proc.stdout.once('data', (d) => resolve(Number(/port (\d+)/.exec(String(d))[1])));
    proc.once('exit', (c) => reject(new Error(`floor exited ${c}`)));
  });
  const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });
  const report = (body) =>
    new Promise((resolve, reject) => {
      const data = JSON.stringify(body);
      const req = http.request({ host: '127.0.0.1', port, method: 'POST', path: '/report', agent, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(data) } }, (res) => {
        res.resume();
        res.on('end', resolve);
      });
      req.on('error', reject);
      req.end(data);
    });
  const stop = async () => {
    const exited = new Promise((r) => proc.once('exit', r));
    agent.destroy();
    proc.kill('SIGTERM');
    await exited;
  };
  return { proc, port, report, stop };
}

/** The floor: each report's frame is built once and written to every open stream. */
async function floorServer() {
  const template = JSON.parse(process.env.FLOOR_TEMPLATE);
  const streams = new Set();
  let seq = 0;
  const snapshot = `event: snapshot\ndata: ${JSON.stringify({ head: 0, tasks: [template] })}\n\n`;
  const server = http.createServer((req, res) => {
    if (req.method === 'GET') {
      res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
      req.socket.setNoDelay(true); // as TaskPulse's streams: no Nagle delay on small frames
      res.write('retry: 1000\n\n');
      res.write(snapshot); // as TaskPulse opens a stream (the bench waits for it)
      streams.add(res);
      req.on('close', () => streams.delete(res));
      return;
    }
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      const u = JSON.parse(body);
      seq++;
      const at = new Date().toISOString();
      const task = { ...template, progress: { done: u.done, total: u.total, percent: (100 * u.done) / u.total }, message: u.message, updatedAt: at, seq };
      const frame = Buffer.from(`id: ${seq}\nevent: task.updated\ndata: ${JSON.stringify({ seq, type: 'task.updated', at, taskId: task.id, task })}\n\n`);
      for (const s of streams) s.write(frame);
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(`{"seq":${seq}}`);
    });
  });
  server.listen(0, '127.0.0.1', () => console.log(`floor listening on port ${server.address().port}`));
  process.on('SIGTERM', () => process.exit(0));
}

// Last, so every declaration above is initialized before it runs.
if (a.role === 'floor') await floorServer();
else if (a.role === 'reader') readerProcess();
else if (a.saturate) await saturate();
else await steady();
