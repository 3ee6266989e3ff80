#!/usr/bin/env node
// Fan-out benchmark: many SSE readers on one server. Viewers each follow their own tasks (as
// browsers do); a few staff streams follow everything. Prints delivery latency (report ack →
// reader), frames delivered per second and the server's memory per open stream.
//
//   node bench/fanout.mjs [--viewers 1000] [--owners 200] [--staff 5] [--rate 500] [--seconds 10]
//
// Saturation mode: for each K, K streams that all receive every event, and a report rate that
// ramps ×1.4 per step until delivery falls behind (< 90 % of the frames offered in a step). Beside
// it, in the same run, a bare `node:http` SSE server doing the same work (each report answered,
// one frame of the same size built once and written to K sockets): the floor. Prints the maximum
// delivered frames/s of both, the ratio, and the server's RSS per open stream.
//
//   node bench/fanout.mjs --saturate [--k 1000,5000,10000] [--step-seconds 2] [--max-steps 14]
import http from 'node:http';
import { readFileSync } from 'node:fs';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { ADMIN, benchArgs, onSseFrames, percentile as pct, runningTasks, startServer } from './support.mjs';

const a = benchArgs({ viewers: 1000, owners: 200, staff: 5, rate: 500, seconds: 10, saturate: false, k: '1000,5000,10000', 'step-seconds': 2, 'max-steps': 14, role: 'bench' });

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
    const req = http.request({ host: server.host, port: server.port, path: '/v1/stream', agent: false, headers: { authorization: `Bearer ${token}` } });
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

const PATTERN = Buffer.from('event: task.updated');

/** Opens one stream and counts its `task.updated` frames (a frame may straddle two chunks). */
function countingStream(host, port, path, headers, counter) {
  return new Promise((resolve, reject) => {
    const req = http.request({ host, port, path, agent: false, headers });
    req.on('response', (res) => {
      if (res.statusCode !== 200) return reject(new Error(`stream: ${res.statusCode}`));
      let carry = Buffer.alloc(0);
      let opened = false;
      res.on('data', (c) => {
        if (!opened) {
          opened = true;
          resolve(req);
        }
        for (let i = c.indexOf(PATTERN); i >= 0; i = c.indexOf(PATTERN, i + PATTERN.length)) counter.frames++;
        if (carry.length > 0) {
          const seam = Buffer.concat([carry, c.subarray(0, PATTERN.length - 1)]);
          if (seam.indexOf(PATTERN) >= 0) counter.frames++;
        }
        carry = c.subarray(Math.max(0, c.length - (PATTERN.length - 1)));
      });
      res.on('close', () => counter.closed++);
      res.on('error', () => {}); // a reset after the server closed a lagging stream: counted by 'close'
    });
    req.on('error', reject);
    req.end();
  });
}

/** Ramps the report rate until delivery falls behind; returns the best delivered frames/s. */
async function ramp(k, report, counter, stepSeconds, maxSteps) {
  let rate = Math.min(200, Math.max(2, Math.round(20_000 / k)));
  let best = 0;
  let bestRate = 0;
  const steps = [];
  for (let step = 0; step < maxSteps; step++) {
    const n = Math.round(rate * stepSeconds);
    const before = counter.frames;
    const t0 = performance.now();
    const inflight = new Set();
    for (let i = 0; i < n; i++) {
      const wait = t0 + (i * 1000) / rate - performance.now();
      if (wait > 1) await new Promise((r) => setTimeout(r, wait));
      // A failed report (a keep-alive socket reset under load) is counted, not fatal: its frames are simply missing.
      const p = report(i).catch(() => counter.failedReports++).finally(() => inflight.delete(p));
      inflight.add(p);
      if (inflight.size > 64) await Promise.race(inflight);
    }
    // The load generator could not even issue the step's reports in time: what follows measures it, not the server.
    const senderBound = (performance.now() - t0) / 1000 > stepSeconds * 1.25;
    await Promise.all(inflight);
    // What arrives within the step (plus a quarter of it for frames in flight) counts.
    const until = t0 + stepSeconds * 1250;
    const offered = n * k;
    while (counter.frames - before < offered && performance.now() < until) await new Promise((r) => setTimeout(r, 10));
    const elapsed = (performance.now() - t0) / 1000;
    const delivered = counter.frames - before;
    const perSecond = delivered / elapsed;
    steps.push(`${rate}/s→${Math.round(perSecond / 1000)}k${senderBound ? ' (sender-bound)' : ''}`);
    if (perSecond > best) [best, bestRate] = [perSecond, rate];
    // Let the backlog drain before the next step so each step starts clean.
    const drainUntil = performance.now() + 5000;
    while (counter.frames - before < offered && performance.now() < drainUntil) await new Promise((r) => setTimeout(r, 20));
    if (delivered < 0.9 * offered || counter.closed > 0 || senderBound) break;
    rate = Math.ceil(rate * 1.4);
  }
  return { best, bestRate, steps };
}

async function saturate() {
  const ks = a.k.split(',').map(Number);
  const stepSeconds = a['step-seconds'];
  const maxSteps = a['max-steps'];
  console.log(`Fan-out saturation: K streams all receiving every event, rate ×1.4 per ${stepSeconds} s step until < 90 % delivered (Node ${process.version})`);
  for (const k of ks) {
    // TaskPulse: K viewer streams of one owner (every report goes to all of them).
    // K streams of one viewer: past the default stream-open limit per credential (6,000 a minute).
    const server = await startServer(['--rate-limit-streams-per-credential', '0']);
    const owner = 'user_0';
    const tasks = await runningTasks(server.call, 10, 'fanout', () => owner);
    const { token } = await server.call('POST', '/v1/tokens', { owner, ttlSeconds: 3600 });
    const template = await server.call('GET', `/v1/tasks/${tasks[0].id}`);
    const rss0 = rssOf(server.proc.pid);
    const counter = { frames: 0, closed: 0, failedReports: 0 };
    const streams = await openMany(k, () => countingStream(server.host, server.port, '/v1/stream', { authorization: `Bearer ${token}` }, counter));
    await new Promise((r) => setTimeout(r, 500));
    const rss1 = rssOf(server.proc.pid);
    // Numbered across steps: a report that repeats a task's current progress and message changes
    // nothing, so the server (rightly) sends no event for it — numbering per step made most of
    // the second step's reports such repeats and looked like a collapse.
    let sent = 0;
    const tp = await ramp(k, () => {
      const i = sent++;
      const t = tasks[i % tasks.length];
      return server.call('POST', `/v1/tasks/${t.id}/progress`, { lease: t.lease, done: i, total: 1e9, message: `m${i}` });
    }, counter, stepSeconds, maxSteps);
    const closedByServer = counter.closed; // before we close them ourselves
    for (const s of streams) s.destroy();
    await server.stop();

    // The floor: a bare node:http SSE server, same frames, same reports, nothing stored.
    const floor = await startFloor(template);
    const fcounter = { frames: 0, closed: 0, failedReports: 0 };
    const fstreams = await openMany(k, () => countingStream('127.0.0.1', floor.port, '/stream', {}, fcounter));
    let fsent = 0;
    const fl = await ramp(k, () => {
      const i = fsent++;
      return floor.report({ done: i, total: 1e9, message: `m${i}` });
    }, fcounter, stepSeconds, maxSteps);
    for (const s of fstreams) s.destroy();
    floor.stop();

    const perStream = (rss1 - rss0) / k;
    console.log(
      `K=${k.toLocaleString('en')}: TaskPulse max ${Math.round(tp.best).toLocaleString('en')} frames/s (at ${tp.bestRate} reports/s), floor ${Math.round(fl.best).toLocaleString('en')} frames/s (at ${fl.bestRate} reports/s) → ${(100 * tp.best / fl.best).toFixed(0)} % of the floor; TaskPulse RSS ${perStream.toFixed(1)} KiB per stream` +
        `${closedByServer ? `; ${closedByServer} lagging streams closed by the server at the last step` : ''}` +
        `${counter.failedReports + fcounter.failedReports ? `; failed reports ${counter.failedReports} / ${fcounter.failedReports}` : ''}`,
    );
    console.log(`   steps TaskPulse: ${tp.steps.join(' ')}`);
    console.log(`   steps floor:     ${fl.steps.join(' ')}`);
  }
}

async function openMany(k, open) {
  const out = [];
  for (let i = 0; i < k; i += 200) out.push(...(await Promise.all(Array.from({ length: Math.min(200, k - i) }, open))));
  return out;
}

/** Starts the floor server in its own process (as the TaskPulse server runs in its own). */
async function startFloor(template) {
  const proc = spawn(process.execPath, [fileURLToPath(import.meta.url), '--role', 'floor'], {
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
  return { port, report, stop: () => (agent.destroy(), proc.kill('SIGTERM')) };
}

/** The floor: each report's frame is built once and written to every open stream. */
async function floorServer() {
  const template = JSON.parse(process.env.FLOOR_TEMPLATE);
  const streams = new Set();
  let seq = 0;
  const server = http.createServer((req, res) => {
    if (req.method === 'GET') {
      res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
      res.write('retry: 1000\n\n');
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
else if (a.saturate) await saturate();
else await steady();
