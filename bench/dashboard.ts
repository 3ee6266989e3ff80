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
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { buildDashboard } from '../packages/dashboard/build.ts';
import { launchChromium } from '../e2e/support/browser.ts';
// @ts-expect-error: plain ESM helper shared by the HTTP benchmarks
import { ADMIN, startServer } from './support.mjs';

const { values } = parseArgs({ options: { tasks: { type: 'string', default: '20000' }, rate: { type: 'string', default: '500' }, samples: { type: 'string', default: '100' } } });
const TASKS = Number(values.tasks);
const RATE = Number(values.rate);
const SAMPLES = Number(values.samples);

const dir = mkdtempSync(join(tmpdir(), 'taskpulse-bench-dash-'));
await buildDashboard(join(dir, 'app'));
const server = await startServer(['--dashboard-dir', join(dir, 'app')]);
const call = server.call as (method: string, path: string, body?: unknown, token?: string) => Promise<any>;
const base = `http://${server.host}:${server.port}`;
try {
  const started = Date.now();
  const leases: { id: string; lease: string }[] = [];
  const BATCH = 50;
  for (let i = 0; i < TASKS; i += BATCH) {
    const made = await Promise.all(
      Array.from({ length: Math.min(BATCH, TASKS - i) }, (_, k) => call('POST', '/v1/tasks', { type: 'load', owner: `owner-${(i + k) % 500}`, start: true, leaseMs: 3_600_000 })),
    );
    for (const m of made) leases.push({ id: m.task.id, lease: m.lease.token });
  }
  console.log(`seeded ${TASKS} running tasks in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  const probe = (await call('POST', '/v1/tasks', { type: 'probe', owner: 'probe-owner', start: true, leaseMs: 3_600_000 })) as { task: { id: string }; lease: { token: string } };
  const staff = (await call('POST', '/v1/tokens', { role: 'staff', ttlSeconds: 3600 })).token as string;

  // Background: RATE reports a second, in batches of 50 every 100 ms (one request per batch).
  let stop = false;
  let sent = 0;
  const background = (async () => {
    const perTick = Math.max(1, Math.round(RATE / 10));
    let n = 0;
    while (!stop) {
      const t0 = Date.now();
      const updates = Array.from({ length: perTick }, () => {
        const t = leases[n++ % leases.length]!;
        return { id: t.id, lease: t.lease, done: n % 100, total: 100 };
      });
      for (let i = 0; i < updates.length; i += 50) await call('POST', '/v1/progress', { updates: updates.slice(i, i + 50) }).catch(() => {});
      sent += updates.length;
      await new Promise((r) => setTimeout(r, Math.max(0, 100 - (Date.now() - t0))));
    }
  })();

  const browser = await launchChromium();
  const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
  await page.addInitScript(() => {
    (window as unknown as { __changes: { at: number; percent: string | null }[] }).__changes = [];
    new MutationObserver(() => {
      const bar = document.querySelector('[data-testid="task"] [data-testid="bar"]');
      const list = (window as unknown as { __changes: { at: number; percent: string | null }[] }).__changes;
      const percent = bar?.getAttribute('data-percent') ?? null;
      if (list[list.length - 1]?.percent !== percent) list.push({ at: Date.now(), percent });
    }).observe(document, { subtree: true, attributes: true, childList: true });
  });
  await page.goto(`${base}/?type=probe#token=${staff}`);
  await page.waitForSelector('[data-testid="connection"][data-state="live"]');
  await page.waitForSelector('[data-testid="task"]');
  const latencies: number[] = [];
  const t0 = Date.now();
  const sentBefore = sent;
  for (let i = 1; i <= SAMPLES; i++) {
    const percent = (i % 99) + 1;
    const at = Date.now();
    await call('POST', `/v1/tasks/${probe.task.id}/progress`, { lease: probe.lease.token, done: percent, total: 100 });
    await page.waitForFunction((p) => (window as unknown as { __changes: { percent: string | null }[] }).__changes.some((c) => c.percent === String(p)), percent, { timeout: 10_000, polling: 'raf' });
    const change = await page.evaluate((p) => (window as unknown as { __changes: { at: number; percent: string | null }[] }).__changes.filter((c) => c.percent === String(p)).pop()!.at, percent);
    latencies.push(change - at);
    await page.evaluate(() => ((window as unknown as { __changes: unknown[] }).__changes.length = 0));
  }
  const rate = ((sent - sentBefore) / ((Date.now() - t0) / 1000)).toFixed(0);
  stop = true;
  await background;
  latencies.sort((a, b) => a - b);
  const q = (p: number) => latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))];
  console.log(`report → screen, ${SAMPLES} samples, ${TASKS} tasks in the store, ~${rate} background reports/s: p50 ${q(0.5)} ms, p90 ${q(0.9)} ms, p99 ${q(0.99)} ms, max ${latencies[latencies.length - 1]} ms`);
  await browser.close();
} finally {
  await server.stop();
  rmSync(dir, { recursive: true, force: true });
}
