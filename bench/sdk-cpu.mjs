#!/usr/bin/env node
// Worker SDK CPU per update, client side: a real server process (bench/support.mjs) and one
// createWorker (throttleMs 0, `await ctx.flush()` after every update, as vs-bullmq's sdk mode),
// J jobs × U updates at concurrency C. Prints the CPU time of this process (the SDK) and of the
// server per update. Profile the SDK with `node --cpu-prof bench/sdk-cpu.mjs`.
//
//   node bench/sdk-cpu.mjs [--jobs 100] [--updates 300] [--concurrency 50]
import { benchArgs, cpuUs, loadAverage, startServer } from './support.mjs';

const args = benchArgs({ jobs: 100, updates: 300, concurrency: 50 });
const { register } = await import('tsx/esm/api');
const { register: registerHook } = await import('node:module');
register();
registerHook('data:text/javascript,' + encodeURIComponent(`export function resolve(s, c, next) { return next(s, { ...c, conditions: [...c.conditions, '@taskpulse/source'] }); }`));
const { createWorker } = await import('@taskpulse/worker');

const server = await startServer();
const type = 'sdk-cpu';
for (let j = 0; j < args.jobs; j++) await server.call('POST', '/v1/tasks', { type, owner: `u${j % 10}`, input: { j } });
let done = 0;
let finished;
const all = new Promise((r) => (finished = r));
const before = loadAverage();
const cpu0 = process.cpuUsage();
const server0 = cpuUs(server.proc.pid);
const t0 = performance.now();
const worker = createWorker({
  url: `http://${server.host}:${server.port}`, apiKey: 'bench_admin_key_0123456789', types: [type], concurrency: args.concurrency, throttleMs: 0, leaseMs: 600_000,
  claimWaitMs: 200, logger: {},
  async handler(task, ctx) {
    for (let i = 1; i <= args.updates; i++) {
      ctx.progress(i, args.updates, `${task.input.j}:${i}`);
      await ctx.flush();
    }
    if (++done === args.jobs) setImmediate(finished);
    return { j: task.input.j };
  },
});
await all;
const ms = performance.now() - t0;
const c = process.cpuUsage(cpu0);
const serverCpu = cpuUs(server.proc.pid) - server0;
await worker.close();
const n = args.jobs * args.updates;
const s = worker.stats();
console.log(
  `${n.toLocaleString('en')} updates: SDK CPU ${((c.user + c.system) / n).toFixed(1)} µs/update, server CPU ${(serverCpu / n).toFixed(1)} µs/update, ` +
    `${Math.round(n / (ms / 1000)).toLocaleString('en')} updates/s, ~${(s.updatesSent / Math.max(1, s.batches)).toFixed(1)} per batch, ${s.requests} requests (load ${before})`,
);
await server.stop();
