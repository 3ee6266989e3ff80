// SQLite WAL size under steady writes with readers: ~700 writes/s (progress reports on 200 running
// tasks, a new task every 50 ms) while readers page through the log and take snapshots as streams
// and polls do. Prints the WAL file's size (max and at the end), the database size and the event
// loop's delay. Run: npx tsx --conditions=@taskpulse/source bench/wal.ts [--seconds 60] [--rate 700]
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { buildServer } from '@taskpulse/server';

const { values } = parseArgs({ options: { seconds: { type: 'string', default: '60' }, rate: { type: 'string', default: '700' } } });
const seconds = Number(values.seconds);
const rate = Number(values.rate);
const dir = mkdtempSync(join(tmpdir(), 'taskpulse-wal-bench-'));
const file = join(dir, 'w.db');
const s = await buildServer({ db: file, logLevel: 'silent' });
await s.start();
const admin = { role: 'admin', keyId: null } as const;
const tasks: { id: string; lease: string; done: number }[] = [];
for (let i = 0; i < 200; i++) {
  const r = await s.tasks.create(admin, { type: 'wal', owner: `u${i % 20}`, start: true, leaseMs: 3_600_000 }, null);
  tasks.push({ id: r.task.id, lease: r.lease!.token, done: 0 });
}
const size = (f: string) => { try { return statSync(f).size; } catch { return 0; } };
const MB = (b: number) => (b / 1024 / 1024).toFixed(1);

const lag = monitorEventLoopDelay({ resolution: 10 });
lag.enable();
let writes = 0;
let failed = 0;
let maxWal = 0;
let stop = false;
const samples: number[] = [];

// Writers: `rate` writes per second in all, paced by the clock (a late tick catches up).
const started = Date.now();
const writer = setInterval(() => {
  const owed = Math.floor(((Date.now() - started) / 1000) * rate) - writes;
  for (let i = 0; i < owed; i++) {
    const t = tasks[writes % tasks.length]!;
    t.done++;
    writes++;
    s.tasks.progress(t.id, { lease: t.lease, done: t.done, total: 1e9, message: `step ${t.done}` }).catch(() => failed++);
  }
}, 10);
const creator = setInterval(() => {
  writes++;
  void s.tasks.create(admin, { type: 'wal-new', owner: 'u1', input: { n: writes } }, null).catch(() => failed++);
}, 50);
// Readers: a stream catching up and a poller, each holding a read snapshot now and then.
const reader = (async () => {
  let after = 0;
  while (!stop) {
    const page = await s.store.events.read(after, {}, 500);
    after = page.events.at(-1)?.seq ?? after;
    await s.store.tasks.snapshot({ owner: 'u1' }, 100);
    await new Promise((r) => setTimeout(r, 5));
  }
})();
const sampler = setInterval(() => {
  const w = size(file + '-wal');
  samples.push(w);
  maxWal = Math.max(maxWal, w);
}, 100);

const t0 = Date.now();
await new Promise((r) => setTimeout(r, seconds * 1000));
stop = true;
clearInterval(writer);
clearInterval(creator);
clearInterval(sampler);
await reader;
const elapsed = (Date.now() - t0) / 1000;
lag.disable();
const sorted = [...samples].sort((a, b) => a - b);
console.log(JSON.stringify({
  seconds: Math.round(elapsed),
  'writes/s': Math.round(writes / elapsed),
  failed,
  'WAL max MB': MB(maxWal),
  'WAL p50 MB': MB(sorted[Math.floor(sorted.length / 2)] ?? 0),
  'WAL at end MB': MB(size(file + '-wal')),
  'DB MB': MB(size(file)),
  'loop delay p99 ms': Math.round(lag.percentile(99) / 1e6),
  'loop delay max ms': Math.round(lag.max / 1e6),
}));
await s.close();
rmSync(dir, { recursive: true, force: true });
