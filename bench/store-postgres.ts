// Store + state machine throughput without HTTP, on PostgreSQL: how many progress reports per
// second the PostgreSQL store group-commits through the task service (`bench/store.ts` is the
// SQLite twin), the CPU time each report costs this process and its PostgreSQL backends (from
// /proc, when PostgreSQL runs on this machine: the figure other load disturbs least), and how many
// bytes per report the log (events, their indexes, task versions), the task rows (with TOAST and
// the inputs kept apart) and the WAL (the whole cluster's) grow by. Runs in a throwaway schema,
// dropped at the end. With INSTANCES=2 or more, each instance runs in a worker thread of its own
// (its own event loop, as separate server processes would have); THREADS=0 runs them all on this
// thread instead (how figures before 2026-12-02 04:30 UTC were taken).
// Run: TASKPULSE_DATABASE_URL=postgres://postgres@127.0.0.1:5432/test npx tsx --conditions=@taskpulse/source bench/store-postgres.ts [INSTANCES=2] [INPUT_BYTES=10000] [INPUT_RANDOM=1] [REPORTS=50000] [WARMUP=10000]
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import pg from 'pg';
import { buildServer } from '@taskpulse/server';

type Task = { id: string; lease: string };
/**
 * One wave: 1,000 reports over the 200 tasks, report k by instance k % instances. Resolves to how
 * many failed: a batch whose process stalls past the idle-in-transaction timeout (2 s) inside its
 * transaction is lost (503, which a client retries), and a loaded machine does that now and then.
 */
const wave = async (server: Awaited<ReturnType<typeof buildServer>>, tasks: Task[], round: number, instance: number, instances: number): Promise<number> => {
  const ps = [];
  for (let k = instance; k < 1000; k += instances) {
    const t = tasks[k % 200]!;
    ps.push(server.tasks.progress(t.id, { lease: t.lease, done: round * 1000 + k, total: 1e9 }));
  }
  return (await Promise.allSettled(ps)).filter((r) => r.status === 'rejected').length;
};

if (!isMainThread) {
  // An instance in a worker thread: runs the waves the main thread asks for.
  const { url, index, instances } = workerData as { url: string; index: number; instances: number };
  const server = await buildServer({ databaseUrl: url, logLevel: 'silent' });
  await server.start();
  let tasks: Task[] = [];
  parentPort!.on('message', async (m: { create?: { inputBytes: number }; tasks?: Task[]; round?: number; close?: true }) => {
    if (m.create) parentPort!.postMessage({ tasks: await createTasks(server, m.create.inputBytes) });
    else if (m.tasks) tasks = m.tasks;
    else if (m.round !== undefined) {
      parentPort!.postMessage({ done: await wave(server, tasks, m.round, index, instances) });
    } else if (m.close) {
      await server.close();
      parentPort!.postMessage({ closed: true });
      parentPort!.close();
    }
  });
  parentPort!.postMessage({ ready: true });
}

/**
 * A task's input: `i` repeated (compresses to almost nothing, so PostgreSQL keeps even a 10 KB
 * document inline), or with INPUT_RANDOM=1 random base64, which does not compress (as a real
 * payload of ids, hashes or text mostly does not).
 */
const inputBlob = (n: number) => (process.env.INPUT_RANDOM === '1' ? randomBytes(n).toString('base64').slice(0, n) : 'i'.repeat(n));

async function createTasks(server: Awaited<ReturnType<typeof buildServer>>, inputBytes: number): Promise<Task[]> {
  const tasks: Task[] = [];
  for (let i = 0; i < 200; i++) {
    const r = await server.tasks.create({ role: 'admin', keyId: null }, { type: 'm', owner: 'u', start: true, leaseMs: 600_000, input: { blob: inputBlob(inputBytes) } }, null);
    tasks.push({ id: r.task.id, lease: r.lease!.token });
  }
  return tasks;
}

/** An instance the main thread drives: in this thread, or in a worker thread of its own. */
interface Instance {
  create(inputBytes: number): Promise<Task[]>;
  setTasks(tasks: Task[]): void;
  wave(round: number): Promise<number>;
  close(): Promise<unknown>;
}

function inThread(server: Awaited<ReturnType<typeof buildServer>>, index: number, instances: number): Instance {
  let tasks: Task[] = [];
  return {
    create: (inputBytes) => createTasks(server, inputBytes),
    setTasks: (t) => void (tasks = t),
    wave: (round) => wave(server, tasks, round, index, instances),
    close: () => server.close(),
  };
}

async function inWorker(url: string, index: number, instances: number): Promise<Instance> {
  // tsx's loader does not reach a worker's entry: the worker registers it, then imports this file.
  const code = `import(${JSON.stringify(import.meta.resolve('tsx/esm/api'))}).then((tsx) => { tsx.register(); return import(${JSON.stringify(import.meta.url)}); })`;
  const worker = new Worker(code, { eval: true, workerData: { url, index, instances }, execArgv: process.execArgv.filter((a) => a.startsWith('--conditions')) });
  const next = (key: string) =>
    new Promise<any>((resolve, reject) => {
      const on = (m: Record<string, unknown>) => {
        if (!(key in m)) return;
        worker.off('message', on).off('error', fail);
        resolve(m[key]);
      };
      const fail = (e: unknown) => {
        worker.off('message', on).off('error', fail);
        reject(e);
      };
      worker.on('message', on).on('error', fail);
    });
  await next('ready');
  return {
    create: (inputBytes) => (worker.postMessage({ create: { inputBytes } }), next('tasks')),
    setTasks: (tasks) => worker.postMessage({ tasks }),
    wave: (round) => (worker.postMessage({ round }), next('done')),
    close: async () => (worker.postMessage({ close: true }), await next('closed')),
  };
}

if (isMainThread) {
  const base = process.env.TASKPULSE_DATABASE_URL;
  if (!base) throw new Error('set TASKPULSE_DATABASE_URL, e.g. postgres://postgres@127.0.0.1:5432/test');
  const instances = Number(process.env.INSTANCES ?? 1);
  const threads = instances > 1 && process.env.THREADS !== '0';
  const inputBytes = Number(process.env.INPUT_BYTES ?? 100);
  const schema = `tp_bench_${randomBytes(4).toString('hex')}`;
  const admin = new pg.Client({ connectionString: base });
  await admin.connect();
  await admin.query(`CREATE SCHEMA ${schema}`);
  // A failed run (a worker that does not start, PostgreSQL gone) still drops its schema.
  try {
    const url = new URL(base);
    url.searchParams.set('options', `-c search_path=${schema}`);
    // Names this run's sessions, to find their backends (and their CPU time) in pg_stat_activity.
    url.searchParams.set('application_name', schema);
    const servers: Instance[] = [];
    for (let i = 0; i < instances; i++) {
      if (threads) servers.push(await inWorker(url.toString(), i, instances));
      else {
        const server = await buildServer({ databaseUrl: url.toString(), logLevel: 'silent' });
        await server.start();
        servers.push(inThread(server, i, instances));
      }
    }
    const tasks = await servers[0]!.create(inputBytes);
    for (const srv of servers) srv.setTasks(tasks);
    /** Bytes of the log on disk: the events table with its indexes (and TOAST), and the task versions. */
    const logBytes = async () =>
      Number((await admin.query(`SELECT pg_total_relation_size('${schema}.events') + coalesce(pg_total_relation_size(to_regclass('${schema}.task_versions')), 0) AS b`)).rows[0].b);
    /** CPU time (µs) of this run's PostgreSQL backends (on this machine), by pid. */
    const backendsCpu = async () => {
      const { rows } = await admin.query('SELECT pid FROM pg_stat_activity WHERE application_name = $1', [schema]);
      const out = new Map<number, number>();
      for (const { pid } of rows) {
        try {
          const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
          out.set(pid, ((Number(f[11]) + Number(f[12])) * 1e6) / 100); // utime + stime, USER_HZ = 100
        } catch {} // not on this machine, or gone
      }
      return out;
    };
    /** Bytes of the task rows on disk: `tasks` with its TOAST and indexes, and the inputs kept apart (when the schema has them). */
    const taskBytes = async () =>
      Number((await admin.query(`SELECT pg_total_relation_size('${schema}.tasks') + coalesce(pg_total_relation_size(to_regclass('${schema}.task_inputs')), 0) AS b`)).rows[0].b);
    /** WAL position: the whole cluster's, so other sessions' writes on a shared server count too. */
    const walLsn = async () => (await admin.query('SELECT pg_current_wal_lsn()::text AS l')).rows[0].l as string;
    const walSince = async (lsn: string) => Number((await admin.query('SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), $1) AS d', [lsn])).rows[0].d);
    const N = Number(process.env.REPORTS ?? 50_000);
    // Unmeasured waves first, so a fresh process's JIT compilation is not counted (as cpu.mjs --warmup).
    const warmupWaves = Math.ceil(Number(process.env.WARMUP ?? 10_000) / 1000);
    for (let round = 0; round < warmupWaves; round++) await Promise.all(servers.map((srv) => srv.wave(round)));
    const load0 = loadavg().map((x) => x.toFixed(2)).join(' ');
    const bytes0 = await logBytes();
    const taskBytes0 = await taskBytes();
    const wal0 = await walLsn();
    const pgCpu0 = await backendsCpu();
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    let failed = 0;
    for (let round = warmupWaves; round < warmupWaves + N / 1000; round++) {
      for (const n of await Promise.all(servers.map((srv) => srv.wave(round)))) failed += n;
    }
    const ms = performance.now() - t0;
    const cpu = process.cpuUsage(cpu0);
    let pgCpu = 0;
    for (const [pid, us] of await backendsCpu()) pgCpu += us - (pgCpu0.get(pid) ?? 0);
    const wal = await walSince(wal0);
    const { rows } = await admin.query(`SELECT head FROM ${schema}.taskpulse_meta`);
    console.log(
      `PostgreSQL store + state machine, ${instances} instance(s)${threads ? ' (a thread each)' : ''}: ${Math.round(N / (ms / 1000)).toLocaleString('en')} durable reports/s ` +
        `(${N.toLocaleString('en')} reports after ${(warmupWaves * 1000).toLocaleString('en')} unmeasured, 1,000 per batch; log head ${rows[0].head})`,
    );
    console.log(
      `CPU per report: ${((cpu.user + cpu.system) / N).toFixed(1)} µs in this process, ${(pgCpu / N).toFixed(1)} µs in its PostgreSQL backends ` +
        `(load average ${load0} before, ${loadavg().map((x) => x.toFixed(2)).join(' ')} after)`,
    );
    if (failed > 0) console.log(`${failed.toLocaleString('en')} reports failed (their batch lost its transaction): the rate counts them`);
    console.log(`log growth: ${Math.round((await logBytes() - bytes0) / N)} bytes per report (task input ${inputBytes.toLocaleString('en')} bytes${process.env.INPUT_RANDOM === '1' ? ', random' : ''})`);
    console.log(
      `task rows growth: ${Math.round((await taskBytes() - taskBytes0) / N)} bytes per report (tasks with TOAST and indexes, task inputs; ${((await taskBytes()) / 1024).toFixed(0)} KiB in all); ` +
        `WAL: ${Math.round(wal / N)} bytes per report (the cluster's: other sessions' writes count too)`,
    );
    const parts = await admin.query(
      `SELECT c.relname, pg_total_relation_size(c.oid) AS b FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
       WHERE n.nspname = $1 AND c.relname IN ('events', 'events_pkey', 'events_task', 'events_owner', 'task_versions', 'task_versions_pkey') ORDER BY c.relname`,
      [schema],
    );
    console.log(`  of which: ${parts.rows.map((r) => `${r.relname} ${Math.round(Number(r.b) / N)} B`).join(', ')} (whole relations / reports)`);
    for (const srv of servers) await srv.close();
  } finally {
    await admin.query(`DROP SCHEMA ${schema} CASCADE`);
    await admin.end();
  }
}
