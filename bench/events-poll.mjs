#!/usr/bin/env node
// `GET /v1/events` with full pages (the polling fallback catching up): a real server process
// (SQLite) holds a log of progress events of realistic tasks (stages, metadata, a message), and
// readers ask for pages of `--limit` events from cursors spread over the log. Reports the server's
// user + system CPU per page (from /proc), pages/s and the response size. With `--against DIR`
// (another checkout with its node_modules, e.g. `git archive main | tar -x -C /tmp/base && cp -al
// node_modules /tmp/base/`) the two servers run alternately, A B A B, so both see the same machine.
//
//   node bench/events-poll.mjs [--events 5000] [--limit 500] [--pages 400] [--concurrency 4] [--rounds 2] [--against DIR]
import http from 'node:http';
import { ADMIN, alternate, benchArgs, cpuUs, loadAverage as load, median, runningTasks } from './support.mjs';

const args = benchArgs({ events: 5000, limit: 500, pages: 400, concurrency: 4, rounds: 2, against: null });
const { events: EVENTS, limit: LIMIT, pages: PAGES, concurrency: CONC } = args;

/** GET a path; resolves with the body's byte length (status checked). */
function get(server, agent, path) {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: server.host, port: server.port, path, agent, headers: { authorization: `Bearer ${ADMIN}` } }, (res) => {
      let bytes = 0;
      res.on('data', (c) => (bytes += c.length));
      res.on('end', () => (res.statusCode === 200 ? resolve(bytes) : reject(new Error(`${path}: ${res.statusCode}`))));
    });
    req.on('error', reject);
    req.end();
  });
}

async function seed(server) {
  const tasks = await runningTasks(server.call, 20, 'poll-bench');
  for (const t of tasks) {
    await server.call('POST', `/v1/tasks/${t.id}/progress`, { lease: t.lease, stage: 'fetch', metadata: { source: 's3://bucket/some/prefix', rows: 120_000 } });
  }
  let head = 0;
  for (let n = 0; n < EVENTS; n += 250) {
    const updates = Array.from({ length: 250 }, (_, i) => {
      const t = tasks[(n + i) % tasks.length];
      return { id: t.id, lease: t.lease, done: n + i + 1, total: EVENTS + 250, message: `Processing row batch ${n + i} of ${EVENTS}` };
    });
    const r = await server.call('POST', '/v1/progress', { updates });
    head = Math.max(head, ...r.results.map((x) => x.seq));
  }
  return head;
}

async function phase(server, head) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: CONC });
  const span = Math.max(1, head - LIMIT);
  let next = 0;
  let bytes = 0;
  // Warm up (JIT, SQLite page cache).
  for (let i = 0; i < 20; i++) await get(server, agent, `/v1/events?after=${(i * 997) % span}&limit=${LIMIT}`);
  const cpu0 = cpuUs(server.proc.pid);
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: CONC }, async () => {
      while (next < PAGES) {
        const i = next++;
        bytes = await get(server, agent, `/v1/events?after=${(i * 7919) % span}&limit=${LIMIT}`);
      }
    }),
  );
  const ms = performance.now() - t0;
  const cpu = cpuUs(server.proc.pid) - cpu0;
  agent.destroy();
  return { cpuPerPage: cpu / PAGES, rate: PAGES / (ms / 1000), bytes };
}

const results = [];
const names = await alternate(args, async (server, name) => {
  const head = await seed(server);
  const before = load();
  const r = await phase(server, head);
  results.push({ name, ...r });
  console.log(
    `${name.padEnd(8)} ${(r.cpuPerPage / 1000).toFixed(2).padStart(6)} ms CPU/page  ${r.rate.toFixed(0).padStart(5)} pages/s  ${(r.bytes / 1024).toFixed(0)} KiB/page  (load ${before})`,
  );
});
console.log(`\nmedian server CPU per page of ${LIMIT} events (${PAGES} pages, ${CONC} concurrent, log of ${EVENTS} events):`);
for (const name of names) {
  const xs = results.filter((r) => r.name === name);
  console.log(`  ${name.padEnd(8)} ${(median(xs.map((r) => r.cpuPerPage)) / 1000).toFixed(2)} ms CPU, ${median(xs.map((r) => r.rate)).toFixed(0)} pages/s`);
}
