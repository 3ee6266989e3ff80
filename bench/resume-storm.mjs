// Resume storm: many SSE streams reconnect at once, each thousands of events behind (after a
// restart, a deploy, a network blip), while a writer keeps reporting progress. What it costs the
// other requests: the server's event-loop delay (prom-client, sampled every 250 ms), /healthz
// round trips (every 25 ms) and write latency during the storm, plus how long the storm takes and
// whether every stream got every event in order (the streams are unfiltered, so the seqs they
// receive must be contiguous: a jump is a gap, a repeat a dup).
//
// Run: node bench/resume-storm.mjs [--streams 100] [--behind 5000] [--cursors spread|same]
//        [--rate 100] [--message-bytes 200]
//   --cursors spread  every stream resumes from its own cursor (no two share a read)
//   --cursors same    every stream resumes from the same cursor (what a restart looks like)
//   --nice=-10        renice the server and this script (root; on a machine busy with other work)
import http from 'node:http';
import { readFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import { ADMIN, benchArgs, percentile, runningTasks, startServer } from './support.mjs';

if (!isMainThread) {
  // The reader thread: every stream at once; each is done once it has an event at `target`.
  const { host, port, cursors, target } = workerData;
  const t0 = performance.now();
  const out = { gaps: 0, dups: 0, events: 0, closedEarly: 0, caughtUp: [] };
  await Promise.all(
    cursors.map(
      (cursor) =>
        new Promise((resolve) => {
          let last = cursor;
          let buf = '';
          let done = false;
          const finish = (closed) => {
            if (done) return;
            done = true;
            if (closed) out.closedEarly++;
            else out.caughtUp.push(performance.now() - t0);
            resolve();
          };
          http
            .get({ host, port, path: `/v1/stream?after=${cursor}`, agent: false, headers: { authorization: `Bearer ${ADMIN}` } }, (res) => {
              res.setEncoding('utf8');
              res.on('data', (chunk) => {
                buf += chunk;
                const end = buf.lastIndexOf('\n\n');
                if (end < 0) return;
                for (const frame of buf.slice(0, end).split('\n\n')) {
                  if (!frame.startsWith('id: ')) continue; // retry, heartbeats
                  const seq = Number(frame.slice(4, frame.indexOf('\n')));
                  out.events++;
                  if (seq <= last) out.dups++;
                  else if (seq !== last + 1) out.gaps++;
                  last = Math.max(last, seq);
                }
                buf = buf.slice(end + 2);
                if (last >= target) {
                  finish(false);
                  res.destroy();
                }
              });
              res.on('close', () => finish(true));
            })
            .on('error', () => finish(true));
        }),
    ),
  );
  parentPort.postMessage(out);
  process.exit(0);
}

const values = benchArgs({ streams: 100, behind: 5000, cursors: 'spread', rate: 100, 'message-bytes': 200, nice: '' });
const { streams, behind, rate } = values;
if (values.cursors !== 'spread' && values.cursors !== 'same') throw new Error('--cursors: spread or same');
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

const { proc, host, port, call, stop } = await startServer(['--heartbeat-ms', '1000']);
process.on('exit', () => proc.kill('SIGKILL')); // also when this script fails
// --nice=-10 (root): the server and this script get the cores ahead of other work on a busy
// machine, so the delays measured are the server's own rather than the scheduler's.
if (values.nice) for (const pid of [proc.pid, process.pid]) execFileSync('renice', ['-n', values.nice, '-p', String(pid)]);
// The server's CPU time so far (user + system, ms): the storm's cost, which load from other processes disturbs least.
const cpuMs = () => {
  const f = readFileSync(`/proc/${proc.pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return ((Number(f[11]) + Number(f[12])) * 1000) / 100; // utime, stime in clock ticks (100/s)
};
const tasks = await runningTasks(call, 20, 'storm');
const message = 'm'.repeat(values['message-bytes']);

// The backlog: behind + streams events (spread cursors start up to `streams` further back).
const backlog = behind + (values.cursors === 'spread' ? streams : 0);
let head = 0;
for (let done = 0; done < backlog; ) {
  const n = Math.min(500, backlog - done);
  const updates = Array.from({ length: n }, (_, i) => ({ ...pick(done + i), done: done + i, total: backlog, message }));
  const r = await call('POST', '/v1/progress', { updates });
  head = Math.max(head, ...r.results.map((x) => x.seq ?? 0));
  done += n;
}
function pick(i) {
  const t = tasks[i % tasks.length];
  return { id: t.id, lease: t.lease };
}
const target = head;
const cursorOf = (i) => head - backlog + (values.cursors === 'spread' ? i : 0);

// ------------------------------------------------------------------ samplers

// One kept-alive connection per sampler, so the figures are the server's, not connection setup's.
const agents = new Map();
const lagMax = [];
const lagP99 = [];
const healthz = [];
const writes = [];
let sampling = true;
const metricsLoop = (async () => {
  while (sampling) {
    const text = await get('/metrics');
    const max = /^\w*eventloop_lag_max_seconds (\S+)$/m.exec(text);
    const p99 = /^\w*eventloop_lag_p99_seconds (\S+)$/m.exec(text);
    if (max && Number.isFinite(Number(max[1]))) lagMax.push(Number(max[1]) * 1000);
    if (p99 && Number.isFinite(Number(p99[1]))) lagP99.push(Number(p99[1]) * 1000);
    await sleep(250);
  }
})();
const healthLoop = (async () => {
  while (sampling) {
    const t0 = performance.now();
    await get('/healthz');
    healthz.push(performance.now() - t0);
    await sleep(25);
  }
})();
const writeLoop = (async () => {
  let i = 0;
  while (sampling) {
    const t0 = performance.now();
    const { id, lease } = pick(i);
    await call('POST', `/v1/tasks/${id}/progress`, { lease, done: backlog + i, total: backlog * 2, message });
    writes.push(performance.now() - t0);
    i++;
    await sleep(Math.max(0, 1000 / rate - (performance.now() - t0)));
  }
})();
function get(path) {
  if (!agents.has(path)) agents.set(path, new http.Agent({ keepAlive: true, maxSockets: 1 }));
  return new Promise((resolve) => {
    http
      .get({ host, port, path, agent: agents.get(path), headers: { authorization: `Bearer ${ADMIN}` } }, (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c) => (text += c));
        res.on('end', () => resolve(text));
      })
      .on('error', () => resolve(''));
  });
}

// A quiet second first: the baseline.
await sleep(1000);
const baseline = { lag: lagMax.length, healthz: healthz.length, writes: writes.length };

// ------------------------------------------------------------------ the storm

// The readers run on a thread of their own, so parsing their frames does not delay the
// measurements on this one (the server is a separate process).
const stormStart = performance.now();
const cpu0 = cpuMs();
const worker = new Worker(new URL(import.meta.url), {
  workerData: { host, port, cursors: Array.from({ length: streams }, (_, i) => cursorOf(i)), target },
});
const { gaps, dups, events, closedEarly, caughtUp } = await new Promise((resolve, reject) => {
  worker.once('message', resolve);
  worker.once('error', reject);
});
const stormMs = performance.now() - stormStart;
const stormCpuMs = cpuMs() - cpu0;
await sleep(500);
sampling = false;
await Promise.all([metricsLoop, healthLoop, writeLoop]);
await worker.terminate();
for (const a of agents.values()) a.destroy();

// ------------------------------------------------------------------ report

const stats = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return `${percentile(s, 0.5)?.toFixed(1)} / ${percentile(s, 0.99)?.toFixed(1)} / ${s.at(-1)?.toFixed(1)}`;
};
const sortedCaught = [...caughtUp].sort((a, b) => a - b);
console.log(
  JSON.stringify(
    {
      streams,
      'events behind': behind,
      cursors: values.cursors,
      'storm s (all streams caught up)': (stormMs / 1000).toFixed(2),
      'stream caught up p50 / max s': `${((percentile(sortedCaught, 0.5) ?? 0) / 1000).toFixed(2)} / ${((sortedCaught.at(-1) ?? 0) / 1000).toFixed(2)}`,
      'server CPU s during the storm': (stormCpuMs / 1000).toFixed(1),
      'events delivered': events,
      gaps,
      dups,
      'streams closed before catching up': closedEarly,
      'baseline event-loop delay max ms': Math.max(0, ...lagMax.slice(0, baseline.lag)).toFixed(1),
      'storm event-loop delay p99 (max of 250 ms samples) ms': Math.max(0, ...lagP99.slice(baseline.lag)).toFixed(1),
      'storm event-loop delay max ms': Math.max(0, ...lagMax.slice(baseline.lag)).toFixed(1),
      'storm /healthz round trip p50 / p99 / max ms': stats(healthz.slice(baseline.healthz)),
      'storm write latency p50 / p99 / max ms': stats(writes.slice(baseline.writes)),
    },
    null,
    2,
  ),
);
await stop();
// Exit now: handles of the stopped server process (its stdio) kept this script alive ~20 s after the report.
process.exit(gaps || dups ? 1 : 0);
