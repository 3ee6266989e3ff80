#!/usr/bin/env node
// Server CPU per progress report, the figure least disturbed by other load on the machine: a real
// server process (SQLite, one SSE reader following every event) takes a fixed number of reports,
// batched (`POST /v1/progress`) and per update (`POST /v1/tasks/:id/progress`), and its user +
// system CPU time (from /proc) is divided by the reports. With `--against DIR` (another checkout
// of the repository with its node_modules, e.g. `git worktree add /tmp/base main && ln -s …`) the
// two servers run alternately, A B A B, so both see the same machine.
//
// `--warmup N` sends N reports first, unmeasured, so the figure leaves out the JIT's warm-up (V8
// spends seconds of CPU compiling the hot path in the first ~10,000 requests of a fresh server).
//
//   node bench/cpu.mjs [--reports 20000] [--warmup 0] [--tasks 50] [--batch 25] [--concurrency 8] [--rounds 2] [--modes batched,per-update] [--against DIR]
//   BENCH_SERVER_NODE_ARGS="--cpu-prof --cpu-prof-dir=/tmp/prof" node bench/cpu.mjs --rounds 1 --modes batched   (then bench/profile-summary.mjs)
import http from 'node:http';
import { ADMIN, alternate, benchArgs, cpuUs, loadAverage as load, median, onSseFrames, runningTasks } from './support.mjs';

const args = benchArgs({ reports: 20000, warmup: 0, tasks: 50, batch: 25, concurrency: 8, rounds: 2, against: null, modes: 'batched,per-update', wire: 'delta' });
if (args.wire !== 'delta' && args.wire !== 'whole') throw new Error('--wire is delta or whole');
// `delta` (default, as the client SDK asks): the reader's progress events carry what changed.
const WIRE_QUERY = args.wire === 'delta' ? '&delta=true' : '';
const { reports: REPORTS, warmup: WARMUP, tasks: TASKS, batch: BATCH, concurrency: CONC } = args;
const MODES = args.modes.split(',');

/** An SSE reader counting progress events until `n` arrived. */
function reader(server, type) {
  let count = 0;
  let bytes = 0;
  let want = Infinity;
  let done;
  const finished = new Promise((r) => (done = r));
  const req = http.request({ host: server.host, port: server.port, path: `/v1/stream?type=${type}${WIRE_QUERY}`, agent: false, headers: { authorization: `Bearer ${ADMIN}` } });
  const ready = new Promise((resolve) => {
    req.on('response', (res) => {
      onSseFrames(res, (frame) => {
        if (frame.includes('event: snapshot')) resolve();
        else if (frame.includes('event: task.updated')) {
          bytes += Buffer.byteLength(frame) + 2;
          if (++count >= want) done();
        }
      });
    });
  });
  req.end();
  return { ready, expect: (n) => ((want = n), count >= n && done(), finished), close: () => req.destroy(), bytesPerEvent: () => bytes / count };
}

async function phase(server, mode) {
  const type = `cpu-${mode}`;
  const tasks = await runningTasks(server.call, TASKS, type);
  const r = reader(server, type);
  await r.ready;
  let next = 0;
  const step = mode === 'batched' ? BATCH : 1;
  const total = WARMUP + REPORTS + step;
  // Sends reports until `until` were sent; `done` keeps rising across calls (a repeat makes no event).
  const send = (until) =>
    Promise.all(
      Array.from({ length: CONC }, async () => {
        while (next < until) {
          const from = next;
          next += step;
          if (mode === 'batched') {
            const updates = [];
            for (let k = from; k < from + step; k++) {
              const t = tasks[k % TASKS];
              updates.push({ id: t.id, lease: t.lease, done: k + 1, total });
            }
            await server.call('POST', '/v1/progress', { updates });
          } else {
            const t = tasks[from % TASKS];
            await server.call('POST', `/v1/tasks/${t.id}/progress`, { lease: t.lease, done: from + 1, total });
          }
        }
      }),
    );
  if (WARMUP > 0) {
    await send(WARMUP);
    await r.expect(next);
  }
  const first = next;
  const cpu0 = cpuUs(server.proc.pid);
  const t0 = performance.now();
  await send(first + REPORTS);
  await r.expect(next);
  const ms = performance.now() - t0;
  const cpu = cpuUs(server.proc.pid) - cpu0;
  r.close();
  return { cpuPerReport: cpu / (next - first), rate: (next - first) / (ms / 1000), frameBytes: r.bytesPerEvent() };
}

const results = [];
const names = await alternate(args, async (server, name) => {
  for (const mode of MODES) {
    const before = load();
    const r = await phase(server, mode);
    results.push({ name, mode, ...r });
    console.log(
      `${name.padEnd(8)} ${mode.padEnd(10)} ${r.cpuPerReport.toFixed(1).padStart(6)} µs CPU/report  ${Math.round(r.rate).toLocaleString('en').padStart(6)} reports/s  ${Math.round(r.frameBytes)} B/frame (${args.wire})  (load ${before})`,
    );
  }
});
console.log(`\nmedian server CPU per report (${REPORTS.toLocaleString('en')} reports after ${WARMUP.toLocaleString('en')} unmeasured, ${TASKS} tasks, batch ${BATCH}, ${CONC} concurrent, one SSE reader):`);
for (const name of names) {
  for (const mode of MODES) {
    const xs = results.filter((r) => r.name === name && r.mode === mode).map((r) => r.cpuPerReport);
    console.log(`  ${name.padEnd(8)} ${mode.padEnd(10)} ${median(xs).toFixed(1)} µs`);
  }
}
