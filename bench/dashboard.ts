/**
 * Dashboard: report → screen latency in real Chromium, with a store full of tasks and a steady
 * background of other reports arriving (the staff console's worst day).
 *
 *   npx tsx bench/dashboard.ts [--tasks 20000] [--rate 500] [--samples 100]
 *
 * Builds the dashboard, starts `taskpulse serve` with it, creates `--tasks` tasks (running, so
 * they are live), keeps `--rate` progress reports a second flowing into them, opens the staff
 * console filtered to one probe task and measures, for `--samples` reports of that task, the time
 * from sending the report to the row's percent changing in the page (a MutationObserver notes it).
 */
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { buildDashboard } from '../packages/dashboard/build.ts';
import { launchChromium } from '../e2e/support/browser.ts';
// @ts-expect-error: plain ESM helper shared by the HTTP benchmarks
import { ADMIN, startServer } from './support.mjs';

const { values } = parseArgs({
  options: {
    tasks: { type: 'string', default: '20000' },
    rate: { type: 'string', default: '500' },
    samples: { type: 'string', default: '100' },
    /** Print a line a second: sender rate, server and Chromium CPU, server event-loop lag, the page's state. */
    diag: { type: 'boolean', default: false },
    /** Write Chromium's CPU profile of the page during the samples to this file (.cpuprofile). */
    'page-profile': { type: 'string' },
    /**
     * Keep the seeded store (bench.db) and the tasks' leases (leases.json) in this folder and use
     * them again next time (within 45 min: the leases are an hour long): seeding 100,000
     * tasks takes minutes.
     */
    data: { type: 'string' },
  },
});
const TASKS = Number(values.tasks);
const RATE = Number(values.rate);
const SAMPLES = Number(values.samples);
const STALL_MS = 10_000;
const PROBE_STEPS = 10_000;
if (SAMPLES > PROBE_STEPS) throw new Error(`--samples: at most ${PROBE_STEPS}`);

const dir = mkdtempSync(join(tmpdir(), 'taskpulse-bench-dash-'));
await buildDashboard(join(dir, 'app'));
const dataDir = values.data ? resolve(values.data) : null;
const leasesFile = dataDir ? join(dataDir, 'leases.json') : null;
type Seeded = { tasks: number; at: number; leases: { id: string; lease: string }[] };
let seeded: Seeded | null = null;
if (dataDir && leasesFile) {
  mkdirSync(dataDir, { recursive: true });
  const old = existsSync(leasesFile) ? (JSON.parse(readFileSync(leasesFile, 'utf8')) as Seeded) : null;
  if (old && old.tasks === TASKS && Date.now() - old.at < 45 * 60_000) seeded = old;
  else for (const f of ['bench.db', 'bench.db-wal', 'bench.db-shm', 'leases.json']) rmSync(join(dataDir, f), { force: true });
}
const server = await startServer(['--dashboard-dir', join(dir, 'app'), ...(dataDir ? ['--db', join(dataDir, 'bench.db')] : [])]);
const rawCall = server.call as (method: string, path: string, body?: unknown, token?: string) => Promise<any>;
/** As the SDK does: a 503 (storage busy) or a network error is retried, with a short pause. */
const call = async (method: string, path: string, body?: unknown, token?: string): Promise<any> => {
  for (let attempt = 0; ; attempt++) {
    try {
      return await rawCall(method, path, body, token);
    } catch (error) {
      if (attempt >= 5 || !/: 503 |ECONNRESET|EPIPE/.test(String(error))) throw error;
      await new Promise((r) => setTimeout(r, 50 * 2 ** attempt));
    }
  }
};
const base = `http://${server.host}:${server.port}`;
try {
  const started = Date.now();
  const leases: { id: string; lease: string }[] = seeded?.leases ?? [];
  const BATCH = 50;
  for (let i = leases.length; i < TASKS; i += BATCH) {
    const made = await Promise.all(
      Array.from({ length: Math.min(BATCH, TASKS - i) }, (_, k) => call('POST', '/v1/tasks', { type: 'load', owner: `owner-${(i + k) % 500}`, start: true, leaseMs: 3_600_000 })),
    );
    for (const m of made) leases.push({ id: m.task.id, lease: m.lease.token });
  }
  if (seeded) console.log(`reusing ${TASKS} running tasks from ${dataDir}`);
  else {
    console.log(`seeded ${TASKS} running tasks in ${((Date.now() - started) / 1000).toFixed(1)} s`);
    if (leasesFile) writeFileSync(leasesFile, JSON.stringify({ tasks: TASKS, at: started, leases } satisfies Seeded));
  }
  const probe = (await call('POST', '/v1/tasks', { type: 'probe', owner: 'probe-owner', start: true, leaseMs: 3_600_000 })) as { task: { id: string }; lease: { token: string } };
  const staff = (await call('POST', '/v1/tokens', { role: 'staff', ttlSeconds: 3600 })).token as string;

  // Background: RATE reports a second, in batches of 50 every 100 ms (one request per batch),
  // open loop: a tick does not wait for the last one's answers (at most 64 requests in flight),
  // so a slow answer does not lower the rate asked of the server. `sent` counts acknowledged reports.
  let stop = false;
  let sent = 0;
  let inFlight = 0;
  let skipped = 0;
  const background = (async () => {
    const perTick = Math.max(1, Math.round(RATE / 10));
    let n = 0;
    const pending = new Set<Promise<void>>();
    for (let tick = 0, t0 = Date.now(); !stop; tick++) {
      for (let i = 0; i < perTick; i += 50) {
        const size = Math.min(50, perTick - i);
        if (inFlight >= 64) {
          skipped += size;
          continue;
        }
        const updates = Array.from({ length: size }, () => {
          const t = leases[n++ % leases.length]!;
          // Each task's count goes up each time it is reported, also across runs on a kept store
          // (the clock): a report that changes nothing would be no event.
          return { id: t.id, lease: t.lease, done: Date.now(), total: 1e13 };
        });
        inFlight++;
        const p: Promise<void> = call('POST', '/v1/progress', { updates }).then(
          () => void (sent += size),
          () => {},
        );
        pending.add(p);
        void p.finally(() => {
          inFlight--;
          pending.delete(p);
        });
      }
      await new Promise((r) => setTimeout(r, Math.max(0, t0 + (tick + 1) * 100 - Date.now())));
    }
    await Promise.all(pending);
  })();

  const browser = await launchChromium();
  const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
  await page.addInitScript(() => {
    const w = window as unknown as { __changes: { at: number; percent: string | null }[]; __busyMs: number };
    w.__changes = [];
    w.__busyMs = 0;
    new MutationObserver(() => {
      const bar = document.querySelector('[data-testid="task"] [data-testid="bar"]');
      const percent = bar?.getAttribute('data-percent') ?? null;
      if (w.__changes[w.__changes.length - 1]?.percent !== percent) w.__changes.push({ at: Date.now(), percent });
    }).observe(document, { subtree: true, attributes: true, childList: true });
    // Main-thread time in long tasks (> 50 ms), for --diag.
    new PerformanceObserver((l) => {
      for (const e of l.getEntries()) w.__busyMs += e.duration;
    }).observe({ type: 'longtask', buffered: true });
  });
  // Diagnostics from here: the page's load under the background load is part of the picture.
  const diag = values.diag ? startDiag() : null;
  const opening = Date.now();
  await page.goto(`${base}/?type=probe#token=${staff}`, { waitUntil: 'commit', timeout: 120_000 });
  await page.waitForSelector('[data-testid="connection"][data-state="live"]', { timeout: 120_000 });
  await page.waitForSelector('[data-testid="task"]', { timeout: 120_000 });
  console.log(`page open and live in ${Date.now() - opening} ms`);

  const cdp = values['page-profile'] ? await page.context().newCDPSession(page) : null;
  if (cdp) {
    await cdp.send('Profiler.enable');
    await cdp.send('Profiler.start');
  }
  const latencies: number[] = [];
  let stalls = 0;
  const t0 = Date.now();
  const sentBefore = sent;
  for (let i = 1; i <= SAMPLES; i++) {
    // Percent never goes backwards within an attempt (the server keeps it monotonic), so each
    // sample moves it up a step: 0.01 % a sample, up to 10,000 samples, as the server rounds it.
    const percent = Math.round((i / PROBE_STEPS) * 100 * 100) / 100;
    const at = Date.now();
    await call('POST', `/v1/tasks/${probe.task.id}/progress`, { lease: probe.lease.token, done: i, total: PROBE_STEPS });
    const shown = await page
      .waitForFunction((p) => (window as unknown as { __changes: { percent: string | null }[] }).__changes.some((c) => c.percent === String(p)), percent, { timeout: STALL_MS, polling: 'raf' })
      .then(() => true, () => false);
    if (!shown) {
      stalls++;
      console.log(`sample ${i}: not shown within ${STALL_MS / 1000} s`);
      if (stalls >= 3) break;
      continue;
    }
    const change = await page.evaluate((p) => (window as unknown as { __changes: { at: number; percent: string | null }[] }).__changes.filter((c) => c.percent === String(p)).pop()!.at, percent);
    latencies.push(change - at);
    await page.evaluate(() => ((window as unknown as { __changes: unknown[] }).__changes.length = 0));
  }
  const rate = ((sent - sentBefore) / ((Date.now() - t0) / 1000)).toFixed(0);
  if (cdp) {
    const { profile } = await cdp.send('Profiler.stop');
    writeFileSync(values['page-profile']!, JSON.stringify(profile));
    console.log(`page profile written to ${values['page-profile']}`);
  }
  diag?.stop();
  stop = true;
  await background;
  latencies.sort((a, b) => a - b);
  const q = (p: number) => latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))];
  if (stalls > 0) console.log(`${stalls} sample(s) not shown within ${STALL_MS / 1000} s`);
  if (latencies.length > 0) {
    console.log(`report → screen, ${latencies.length} samples, ${TASKS} tasks in the store, ~${rate} background reports/s: p50 ${q(0.5)} ms, p90 ${q(0.9)} ms, p99 ${q(0.99)} ms, max ${latencies[latencies.length - 1]} ms`);
  }
  await browser.close();

  /** A line a second: what the sender managed, who is busy (server, Chromium), the server's loop lag and the page's state. */
  function startDiag() {
    const serverPid = server.proc.pid as number;
    let lastSent = sent;
    let lastCpu = cpuTimes(serverPid);
    let lastBusy = 0;
    let lastAt = Date.now();
    let stopped = false;
    let timer: ReturnType<typeof setTimeout> | undefined;
    // A line, then the next a second later: never two at once, however late the last one ran.
    const line = async () => {
      try {
        const cpu = cpuTimes(serverPid);
        const metrics = await fetch(`${base}/metrics`, { headers: { authorization: `Bearer ${ADMIN}` } }).then((r) => r.text());
        const metric = (name: string) => Number(new RegExp(`^${name}(?:\\{[^}]*\\})? ([\\d.e+-]+)$`, 'm').exec(metrics)?.[1] ?? NaN);
        const page_ = await page
          .evaluate(() => ({
            state: document.querySelector('[data-testid="connection"]')?.getAttribute('data-state'),
            busy: (window as unknown as { __busyMs: number }).__busyMs,
          }))
          .catch(() => ({ state: 'loading', busy: lastBusy }));
        const now = Date.now();
        const dt = (now - lastAt) / 1000; // seconds since the last line (the timer may run late)
        lastAt = now;
        console.log(
          [
            `${dt.toFixed(1)} s: acked ${((sent - lastSent) / dt).toFixed(0)}/s (in flight ${inFlight}, not sent ${skipped})`,
            `server cpu ${(((cpu.server - lastCpu.server) / dt) * 100).toFixed(0)}%`,
            `chromium+bench cpu ${(((cpu.others - lastCpu.others) / dt) * 100).toFixed(0)}%`,
            `loop lag max ${(metric('taskpulse_nodejs_eventloop_lag_max_seconds') * 1000).toFixed(0)} ms`,
            `streams ${metric('taskpulse_open_streams')}`,
            `page ${page_.state}, long tasks ${(page_.busy - lastBusy).toFixed(0)} ms`,
          ].join(' · '),
        );
        lastSent = sent;
        lastCpu = cpu;
        lastBusy = page_.busy;
      } catch (error) {
        console.log(`diag: ${(error as Error).message}`);
      }
      if (!stopped) timer = setTimeout(line, 1000);
    };
    timer = setTimeout(line, 1000);
    return {
      stop: () => {
        stopped = true;
        clearTimeout(timer);
      },
    };
  }
} finally {
  await server.stop();
  rmSync(dir, { recursive: true, force: true });
}

/** CPU seconds (user + system) of the server process and of every other descendant of this process (Chromium, tsx). */
function cpuTimes(serverPid: number): { server: number; others: number } {
  const tick = 100; // USER_HZ on Linux
  const parents = new Map<number, number>();
  const cpu = new Map<number, number>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      parents.set(Number(name), Number(fields[1]));
      cpu.set(Number(name), (Number(fields[11]) + Number(fields[12])) / tick);
    } catch {
      // gone meanwhile
    }
  }
  const mine = (pid: number): boolean => {
    for (let p = pid, n = 0; p > 1 && n < 50; p = parents.get(p) ?? 0, n++) if (p === process.pid) return true;
    return false;
  };
  let others = 0;
  for (const [pid, t] of cpu) if (pid !== serverPid && pid !== process.pid && mine(pid)) others += t;
  return { server: cpu.get(serverPid) ?? 0, others: others + process.cpuUsage().user / 1e6 + process.cpuUsage().system / 1e6 };
}
