// Store + state machine throughput without HTTP: how many progress reports per second the
// SQLite store group-commits through the task service, and how many bytes the log (events and
// task versions, indexes included) grows by per report.
// Run: npx tsx --conditions=@taskpulse/source bench/store.ts [SYNC=FULL] [INPUT_BYTES=10000]
import Database from 'better-sqlite3';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildServer } from '@taskpulse/server';

const dir = mkdtempSync(join(tmpdir(), 'taskpulse-store-bench-'));
const sync = process.env.SYNC === 'FULL' ? 'FULL' : 'NORMAL';
const inputBytes = Number(process.env.INPUT_BYTES ?? 100);
const file = join(dir, 'b.db');
/** On-disk bytes of the log: the events table, its indexes and the task versions. */
const logBytes = () => {
  const db = new Database(file, { readonly: true });
  try {
    return db
      .prepare("SELECT sum(pgsize) FROM dbstat WHERE name IN ('events', 'events_task', 'events_owner', 'task_versions')")
      .pluck()
      .get() as number;
  } finally {
    db.close();
  }
};
const s = await buildServer({ db: file, logLevel: 'silent', sqliteSynchronous: sync });
await s.start();
const tasks: { id: string; lease: string }[] = [];
for (let i = 0; i < 200; i++) {
  const r = await s.tasks.create({ role: 'admin', keyId: null }, { type: 'm', owner: 'u', start: true, leaseMs: 600_000, input: { blob: 'i'.repeat(inputBytes) } }, null);
  tasks.push({ id: r.task.id, lease: r.lease!.token });
}
const N = 100_000;
const bytes0 = logBytes();
const t0 = performance.now();
for (let round = 0; round < N / 1000; round++) {
  const ps = [];
  for (let k = 0; k < 1000; k++) {
    const t = tasks[k % 200]!;
    ps.push(s.tasks.progress(t.id, { lease: t.lease, done: round * 1000 + k, total: 1e9 }));
  }
  await Promise.all(ps);
}
const ms = performance.now() - t0;
console.log(`store + state machine, synchronous=${sync}: ${Math.round(N / (ms / 1000)).toLocaleString('en')} durable reports/s (${N.toLocaleString('en')} reports, 1,000 per batch)`);
console.log(`log growth: ${Math.round((logBytes() - bytes0) / N)} bytes per report (task input ${inputBytes.toLocaleString('en')} bytes)`);
await s.close();
rmSync(dir, { recursive: true, force: true });
