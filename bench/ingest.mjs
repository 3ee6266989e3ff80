#!/usr/bin/env node
// Ingest benchmark: durable progress reports per second (single and batched) and
// report → SSE-reader latency at a steady rate. Starts a real server process on a temp
// SQLite file and drives it over HTTP from this process.
//
//   node bench/ingest.mjs [--seconds 5] [--rate 2000] [--synchronous NORMAL|FULL]
import http from 'node:http';
import { ADMIN, benchArgs, onSseFrames, percentile, runningTasks, startServer } from './support.mjs';

const args = benchArgs({ seconds: 5, rate: 2000, synchronous: 'NORMAL' });
const { seconds: SECONDS, rate: RATE } = args;
let server;
let call;
const makeTasks = (n, type) => runningTasks(call, n, type);

async function singleReports() {
  const tasks = await makeTasks(32, 'bench-single');
  let count = 0;
  const end = Date.now() + SECONDS * 1000;
  await Promise.all(
    tasks.map(async (t) => {
      for (let i = 1; Date.now() < end; i++) {
        await call('POST', `/v1/tasks/${t.id}/progress`, { lease: t.lease, done: i, total: 1e9 });
        count++;
      }
    }),
  );
  return count / SECONDS;
}

async function batchedReports() {
  const tasks = await makeTasks(200, 'bench-batch');
  let count = 0;
  const end = Date.now() + SECONDS * 1000;
  const workers = 4;
  await Promise.all(
    Array.from({ length: workers }, async (_, w) => {
      const mine = tasks.filter((_, i) => i % workers === w);
      for (let i = 1; Date.now() < end; i++) {
        const updates = [];
        for (let k = 0; k < 2; k++) for (const t of mine) updates.push({ id: t.id, lease: t.lease, done: i * 2 + k, total: 1e9 });
        const r = await call('POST', '/v1/progress', { updates });
        count += r.results.length;
      }
    }),
  );
  return count / SECONDS;
}

async function latency() {
  const tasks = await makeTasks(20, 'bench-latency');
  const sent = new Map();
  const lat = [];
  const req = http.request({ host: server.host, port: server.port, path: '/v1/stream?type=bench-latency', agent: false, headers: { authorization: `Bearer ${ADMIN}` } });
  const ready = new Promise((resolve) => {
    req.on('response', (res) => {
      onSseFrames(res, (frame) => {
        if (frame.includes('event: snapshot')) resolve();
        const m = /"message":"m(\d+)"/.exec(frame);
        if (m && sent.has(m[1])) {
          lat.push(performance.now() - sent.get(m[1]));
          sent.delete(m[1]);
        }
      });
    });
  });
  req.end();
  await ready;
  const total = RATE * SECONDS;
  const start = performance.now();
  const inflight = [];
  for (let n = 0; n < total; n++) {
    const due = start + (n * 1000) / RATE;
    const wait = due - performance.now();
    if (wait > 1) await new Promise((r) => setTimeout(r, wait));
    const t = tasks[n % tasks.length];
    sent.set(String(n), performance.now());
    inflight.push(call('POST', `/v1/tasks/${t.id}/progress`, { lease: t.lease, done: n, total: total + 1, message: `m${n}` }));
    if (inflight.length > 200) await Promise.all(inflight.splice(0));
  }
  await Promise.all(inflight);
  const deadline = Date.now() + 5000;
  while (sent.size > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  req.destroy();
  const achieved = total / ((performance.now() - start) / 1000);
  lat.sort((a, b) => a - b);
  return { achieved, delivered: lat.length, total, p50: percentile(lat, 0.5), p99: percentile(lat, 0.99), max: lat.at(-1) };
}

try {
  server = await startServer(['--synchronous', args.synchronous]);
  call = server.call;
  const single = await singleReports();
  const batched = await batchedReports();
  const l = await latency();
  console.log(`TaskPulse ingest benchmark (${SECONDS}s per phase, SQLite synchronous=${args.synchronous}, Node ${process.version})`);
  console.log(`single reports (32 concurrent, POST /v1/tasks/:id/progress): ${Math.round(single).toLocaleString('en')} reports/s`);
  console.log(`batched reports (POST /v1/progress, 100 updates/request, 4 concurrent): ${Math.round(batched).toLocaleString('en')} reports/s`);
  console.log(`report → SSE reader at ${Math.round(l.achieved).toLocaleString('en')} reports/s: p50 ${l.p50.toFixed(1)} ms, p99 ${l.p99.toFixed(1)} ms, max ${l.max.toFixed(1)} ms (${l.delivered}/${l.total} delivered)`);
} finally {
  await server?.stop();
}
