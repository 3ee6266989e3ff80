/**
 * Worker SDK benchmark: one worker process drives many concurrent tasks, each reporting progress
 * N times a second, against a real server running in a separate process (so the CPU figures are
 * the worker's own).
 *
 *   npx tsx --conditions=@taskpulse/source bench/worker.ts [--tasks 1000] [--hz 10] [--seconds 20] [--throttle 500] [--url URL --key KEY]
 *
 * Without --url it starts `startServer` (SQLite in a temp dir) in a child process.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { parseArgs } from 'node:util';

const { values: args } = parseArgs({
  options: {
    tasks: { type: 'string', default: '1000' },
    hz: { type: 'string', default: '10' },
    seconds: { type: 'string', default: '20' },
    throttle: { type: 'string', default: '500' },
    url: { type: 'string' },
    key: { type: 'string' },
    role: { type: 'string', default: 'bench' },
    help: { type: 'boolean', default: false },
  },
});

if (args.help) {
  console.log(`usage: npx tsx --conditions=@taskpulse/source bench/worker.ts [--tasks 1000] [--hz 10] [--seconds 20] [--throttle 500] [--url URL --key ADMIN_OR_WORKER_KEY]`);
  process.exit(0);
}

if (args.role === 'server') {
  // Child: a server on a free port; tells the parent its URL.
  const { startServer } = await import('@taskpulse/server');
  const dir = mkdtempSync(join(tmpdir(), 'taskpulse-bench-'));
  const server = await startServer({ port: 0, db: join(dir, 'bench.db'), adminKey: process.env.BENCH_ADMIN_KEY!, logLevel: 'warn' });
  process.send!({ url: server.url });
  process.on('message', async (m) => {
    if (m === 'stop') {
      await server.close();
      rmSync(dir, { recursive: true, force: true });
      process.exit(0);
    }
  });
} else {
  await bench();
}

function cpuOf(pid: number): number {
  // utime + stime in clock ticks (100/s on Linux) → ms
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

async function bench(): Promise<void> {
  const { createReporter, createWorker } = await import('@taskpulse/worker');
  const tasks = Number(args.tasks);
  const hz = Number(args.hz);
  const seconds = Number(args.seconds);
  const throttleMs = Number(args.throttle);
  let url = args.url;
  let key = args.key;
  let child: ChildProcess | undefined;
  if (!url) {
    key = `tpk_bench_${Math.random().toString(36).slice(2)}`;
    child = fork(new URL(import.meta.url).pathname, ['--role', 'server'], { env: { ...process.env, BENCH_ADMIN_KEY: key }, execArgv: ['--conditions=@taskpulse/source', '--import', 'tsx'] });
    url = await new Promise<string>((resolve, reject) => {
      child!.once('message', (m: any) => resolve(m.url));
      child!.once('exit', (code) => reject(new Error(`server exited with ${code}`)));
    });
  }
  url = url.replace(/\/+$/, '');
  if (!key) throw new Error('--key is required with --url');

  const type = `bench-${Date.now().toString(36)}`;
  const reporter = createReporter({ url, apiKey: key });
  console.log(`creating ${tasks} tasks…`);
  for (let i = 0; i < tasks; i += 50) {
    await Promise.all(Array.from({ length: Math.min(50, tasks - i) }, (_, j) => reporter.create({ type, owner: `bench_${(i + j) % 100}` })));
  }

  const reportsPerTask = hz * seconds;
  let running = 0;
  let finished = 0;
  let allRunning!: () => void;
  const ramped = new Promise<void>((resolve) => (allRunning = resolve));
  let go!: () => void;
  const start = new Promise<void>((resolve) => (go = resolve));
  const intervalMs = 1000 / hz;
  const worker = createWorker({
    url,
    apiKey: key,
    types: [type],
    concurrency: tasks,
    throttleMs,
    leaseMs: 60_000,
    claimWaitMs: 1000,
    handler: async (_task, ctx) => {
      if (++running === tasks) allRunning();
      await start;
      for (let i = 1; i <= reportsPerTask; i++) {
        await new Promise((r) => setTimeout(r, intervalMs));
        ctx.progress(i, reportsPerTask, `step ${i}/${reportsPerTask}`);
      }
      finished++;
      return { reports: reportsPerTask };
    },
  });

  const claimStart = Date.now();
  await ramped;
  const claimMs = Date.now() - claimStart;
  console.log(`${tasks} tasks claimed in ${claimMs} ms; reporting at ${hz}/s each for ${seconds} s (throttleMs ${throttleMs})`);

  const loop = monitorEventLoopDelay({ resolution: 1 });
  loop.enable();
  const before = { stats: worker.stats(), cpu: process.cpuUsage(), server: child ? cpuOf(child.pid!) : 0, at: performance.now() };
  go();
  while (finished < tasks) await new Promise((r) => setTimeout(r, 100));
  const after = { stats: worker.stats(), cpu: process.cpuUsage(before.cpu), server: child ? cpuOf(child.pid!) : 0, at: performance.now() };
  loop.disable();
  await worker.close();
  await reporter.close();
  const total = worker.stats();

  // Check: every task completed on the server.
  let completed = 0;
  for (let cursor: string | null = null, first = true; first || cursor; first = false) {
    const res = await fetch(`${url}/v1/tasks?type=${type}&status=completed&limit=500${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`, { headers: { authorization: `Bearer ${key}` } });
    const page = (await res.json()) as { tasks: unknown[]; nextCursor: string | null };
    completed += page.tasks.length;
    cursor = page.nextCursor;
  }

  const wallS = (after.at - before.at) / 1000;
  const d = (k: 'requests' | 'reportCalls' | 'updatesSent' | 'batches') => after.stats[k] - before.stats[k];
  const cpuMs = (after.cpu.user + after.cpu.system) / 1000;
  const figures = {
    tasks,
    'reports per task per second': hz,
    'throttleMs': throttleMs,
    'wall time (s)': round(wallS),
    'ctx.progress calls/s': round(d('reportCalls') / wallS),
    'updates sent/s': round(d('updatesSent') / wallS),
    'coalesced away (%)': round((1 - d('updatesSent') / d('reportCalls')) * 100),
    'HTTP requests/s': round(d('requests') / wallS),
    'batches/s': round(d('batches') / wallS),
    'updates per batch (mean)': round(d('updatesSent') / Math.max(1, d('batches'))),
    'worker CPU (% of one core)': round((cpuMs / 1000 / wallS) * 100),
    'server CPU (% of one core)': child ? round(((after.server - before.server) / 1000 / wallS) * 100) : 'n/a (external)',
    'event-loop delay p50 / p99 / max (ms)': `${round(loop.percentile(50) / 1e6)} / ${round(loop.percentile(99) / 1e6)} / ${round(loop.max / 1e6)}`,
    'claim ramp (ms for all tasks)': claimMs,
    'retries': total.retries,
    'tasks completed on the server': completed,
  };
  console.table(figures);
  child?.send('stop');
  if (completed !== tasks) {
    console.error(`only ${completed} of ${tasks} tasks completed`);
    process.exitCode = 1;
  }
}

function round(n: number): number {
  return Math.round(n * 10) / 10;
}
