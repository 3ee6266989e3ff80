#!/usr/bin/env node
// Fan-out benchmark: many SSE readers on one server. Viewers each follow their own tasks (as
// browsers do); a few staff streams follow everything. Prints delivery latency (report ack →
// reader), frames delivered per second and the server's memory per open stream.
//
//   node bench/fanout.mjs [--viewers 1000] [--owners 200] [--staff 5] [--rate 500] [--seconds 10]
import http from 'node:http';
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { ADMIN, percentile as pct, runningTasks, startServer } from './support.mjs';

const { values: a } = parseArgs({
  options: {
    viewers: { type: 'string', default: '1000' },
    owners: { type: 'string', default: '200' },
    staff: { type: 'string', default: '5' },
    rate: { type: 'string', default: '500' },
    seconds: { type: 'string', default: '10' },
  },
});
const VIEWERS = Number(a.viewers), OWNERS = Number(a.owners), STAFF = Number(a.staff), RATE = Number(a.rate), SECONDS = Number(a.seconds);
let server;
let call;

const rssKiB = () => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${server.proc.pid}/status`, 'utf8'))[1]);
const sent = new Map();
const latencies = [];
let frames = 0;

function openStream(token) {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: server.host, port: server.port, path: '/v1/stream', agent: false, headers: { authorization: `Bearer ${token}` } });
    req.on('response', (res) => {
      let buf = '';
      res.setEncoding('utf8');
      res.on('data', (c) => {
        buf += c;
        let i;
        while ((i = buf.indexOf('\n\n')) >= 0) {
          const frame = buf.slice(0, i);
          buf = buf.slice(i + 2);
          if (frame.includes('event: snapshot')) resolve(req);
          const m = /"message":"m(\d+)"/.exec(frame);
          if (m) {
            frames++;
            const t0 = sent.get(m[1]);
            if (t0 !== undefined) latencies.push(performance.now() - t0);
          }
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
