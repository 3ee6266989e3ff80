// Store + state machine without HTTP: how many progress reports per second the SQLite store
// group-commits through the task service, the CPU and the bytes written per report, and how many
// bytes the log (events, task versions and the per-task and per-owner keys) grows by per report.
//
// Run: npx tsx --conditions=@taskpulse/source bench/store.ts
//   SYNC=FULL            synchronous=FULL (default NORMAL)
//   INPUT_BYTES=10000    size of each task's input (default 100)
//   TASKS=200 BATCH=1000 running tasks, and reports per commit (the reports of a batch go to
//                        consecutive tasks, as `POST /v1/progress` from many jobs does: BATCH=25
//                        TASKS=50 is `bench/cpu.mjs`'s batched workload without HTTP)
//   REPORTS=100000       reports measured (after a warm-up of a tenth as many)
//   DROP_INDEXES=tasks_lease,tasks_status_n   analysis only: what an index costs per report (the log keeps
//                        no per-report index since migration 11: see event-keys.ts)
//
// "written" is the process's bytes and write(2) calls from /proc/self/io (WAL frames, and the
// checkpoint thread's pages): unlike CPU time, it does not depend on what else the machine runs.
import Database from 'better-sqlite3';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildServer } from '@taskpulse/server';

const env = (k: string, d: number) => Number(process.env[k] ?? d);
const dir = mkdtempSync(join(tmpdir(), 'taskpulse-store-bench-'));
const sync = process.env.SYNC === 'FULL' ? 'FULL' : 'NORMAL';
const inputBytes = env('INPUT_BYTES', 100);
const taskCount = env('TASKS', 200);
const batch = env('BATCH', 1000);
const N = Math.ceil(env('REPORTS', 100_000) / batch) * batch;
const file = join(dir, 'b.db');
/** On-disk bytes of the log: the events table, its indexes and the task versions. */
const logBytes = () => {
  const db = new Database(file, { readonly: true });
  try {
    return db
      .prepare("SELECT sum(pgsize) FROM dbstat WHERE name IN ('events', 'events_by_task', 'events_by_owner', 'task_versions')")
      .pluck()
      .get() as number;
  } finally {
    db.close();
  }
};
const io = () => {
  const f = Object.fromEntries(readFileSync('/proc/self/io', 'utf8').trim().split('\n').map((l) => l.split(': ')));
  return { bytes: Number(f.wchar), calls: Number(f.syscw) };
};
const s = await buildServer({ db: file, logLevel: 'silent', sqliteSynchronous: sync });
await s.start();
if (process.env.DROP_INDEXES) {
  const db = new Database(file);
  for (const name of process.env.DROP_INDEXES.split(',')) db.exec(`DROP INDEX ${name}`);
  db.close();
}
const tasks: { id: string; lease: string }[] = [];
for (let i = 0; i < taskCount; i++) {
  const r = await s.tasks.create({ role: 'admin', keyId: null }, { type: 'm', owner: 'u', start: true, leaseMs: 600_000, input: { blob: 'i'.repeat(inputBytes) } }, null);
  tasks.push({ id: r.task.id, lease: r.lease!.token });
}
let done = 0;
const run = async (reports: number) => {
  for (let round = 0; round < reports / batch; round++) {
    const updates = [];
    for (let k = 0; k < batch; k++) {
      const t = tasks[done % taskCount]!;
      updates.push({ id: t.id, lease: t.lease, done: ++done, total: 1e12 });
    }
    await s.tasks.progressMany(updates);
  }
};
await run(Math.ceil(N / 10 / batch) * batch);
const bytes0 = logBytes();
const io0 = io();
const cpu0 = process.cpuUsage();
const t0 = performance.now();
await run(N);
const ms = performance.now() - t0;
const cpu = process.cpuUsage(cpu0);
const io1 = io();
const per = (x: number) => (x / N).toFixed(1);
console.log(
  `store + state machine, synchronous=${sync}, ${taskCount} tasks, ${batch.toLocaleString('en')} reports per commit: ` +
    `${Math.round(N / (ms / 1000)).toLocaleString('en')} durable reports/s (${N.toLocaleString('en')} reports)`,
);
console.log(`CPU per report: ${per(cpu.user + cpu.system)} µs (user ${per(cpu.user)}, system ${per(cpu.system)}), all threads`);
console.log(`written per report: ${Math.round((io1.bytes - io0.bytes) / N).toLocaleString('en')} bytes in ${((io1.calls - io0.calls) / N).toFixed(2)} write calls`);
console.log(`log growth: ${Math.round((logBytes() - bytes0) / N)} bytes per report (task input ${inputBytes.toLocaleString('en')} bytes)`);
console.log(`load average ${loadavg().map((l) => l.toFixed(2)).join(' ')}`);
await s.close();
rmSync(dir, { recursive: true, force: true });
