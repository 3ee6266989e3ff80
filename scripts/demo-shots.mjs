#!/usr/bin/env node
/**
 * Retakes docs/screenshots/demo-*.png: starts `taskpulse demo` (the CLI from source, a fresh
 * SQLite file in a temp folder, its own admin key, any free port), waits until the demo's workers
 * have finished enough tasks of every type that each page has something to show, then shoots
 * every demo page — staff console, a task page, stats, customer portal, the React example — at
 * 1280 px (full page) and 390 px (one screen), light and dark, with the Debian Chromium
 * (nothing is downloaded).
 *
 *   npm run build                     # the dashboard must be built (packages/dashboard/dist)
 *   node scripts/demo-shots.mjs       # all 20 shots, ~2–4 min
 *   node scripts/demo-shots.mjs --only task,portal --min-completed 8 --out /tmp/shots
 *   DEBUG=pw:browser node scripts/demo-shots.mjs   # Chromium's own stderr too
 *
 * One browser, one page at a time: each page's context is closed before the next one opens, so
 * Chromium never holds more than one live event stream (as e2e/dashboard.test.ts does).
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { chromium } from 'playwright-core';

const ROOT = resolve(import.meta.dirname, '..');
const BIN = join(ROOT, 'packages/cli/bin/taskpulse.mjs');

const { values: opts } = parseArgs({
  options: {
    out: { type: 'string', default: join(ROOT, 'docs/screenshots') },
    only: { type: 'string' },
    // Finished tasks of each demo type (ai-search, pdf-import, batch) before the first shot.
    'min-completed': { type: 'string', default: '5' },
    'max-wait': { type: 'string', default: '300' },
    help: { type: 'boolean', short: 'h' },
  },
});
if (opts.help) {
  console.log('node scripts/demo-shots.mjs [--out dir] [--only console,task,stats,portal,example-react] [--min-completed N] [--max-wait seconds]');
  process.exit(0);
}
if (!existsSync(join(ROOT, 'packages/dashboard/dist/index.html'))) {
  console.error('The dashboard is not built: run `npm run build` first.');
  process.exit(1);
}

const t0 = Date.now();
const say = (msg) => console.log(`[${((Date.now() - t0) / 1000).toFixed(0).padStart(3)} s] ${msg}`);
const dir = mkdtempSync(join(tmpdir(), 'taskpulse-demo-shots-'));
const adminKey = `tpk_shots_${randomBytes(18).toString('base64url')}`;
let demo = null;
let browser = null;
let closing = false;

/** Starts the demo; resolves with its URL and the two tokens it prints. */
function startDemo() {
  demo = spawn(process.execPath, [BIN, 'demo', '--port', '0', '--db', join(dir, 'demo.db'), '--admin-key', adminKey], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  return new Promise((res, rej) => {
    let out = '';
    demo.stdout.on('data', (d) => {
      out += d.toString();
      if (!out.includes('Ctrl-C')) return;
      const url = /listening on (http:\/\/\S+)/.exec(out)?.[1];
      const staff = /staff console\s+\S+#token=(\S+)/.exec(out)?.[1];
      const viewer = /viewer token\s+(\S+)/.exec(out)?.[1];
      const examples = /example pages\s+http/.test(out);
      if (url && staff && viewer) res({ url, staff: decodeURIComponent(staff), viewer, examples });
      else rej(new Error(`could not read the demo's banner:\n${out}`));
    });
    demo.once('exit', (code) => rej(new Error(`the demo exited with ${code}:\n${out}`)));
  });
}

async function api(url, path) {
  const res = await fetch(url + path, { headers: { authorization: `Bearer ${adminKey}` } });
  if (!res.ok) throw new Error(`GET ${path} → ${res.status} ${await res.text()}`);
  return res.json();
}

/**
 * Waits (polling the API once a second) until every demo type has at least `min` finished tasks,
 * one batch item has failed and one browser has reported its delivery health: the stats page then
 * has durations, ETA accuracy, failures and screen freshness to show.
 */
async function waitForLoad(url, min, maxMs) {
  const types = ['ai-search', 'pdf-import', 'batch'];
  let last = '';
  for (;;) {
    const stats = await api(url, '/v1/stats');
    const by = Object.fromEntries(stats.types.map((t) => [t.type, t]));
    const done = types.map((t) => (by[t]?.completed ?? 0) + (by[t]?.failed ?? 0));
    const failed = stats.types.reduce((n, t) => n + t.failed, 0);
    const { reports } = await api(url, '/v1/client-metrics?windowMs=3600000');
    const now = `${types.map((t, i) => `${t} ${done[i]}`).join(', ')}; failed ${failed}; browser reports ${reports}`;
    if (now !== last) say(`finished: ${(last = now)}`);
    if (done.every((n) => n >= min) && failed >= 1 && reports >= 1) return;
    if (Date.now() - t0 > maxMs) throw new Error(`the demo did not reach ${min} finished tasks of each type in ${maxMs / 1000} s (${now})`);
    await new Promise((r) => setTimeout(r, 1000));
  }
}

async function main() {
  const { url, staff, viewer, examples } = await startDemo();
  say(`demo on ${url}`);
  browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  // Only the browser process itself ending (killed, or closed by this script) disconnects: then
  // every call fails with "Target page, context or browser has been closed". A page's renderer
  // dying gives "Target crashed" on that page alone. DEBUG=pw:browser shows the exit code/signal.
  browser.on('disconnected', () => {
    if (!closing) console.error('Chromium went away while shots were pending (rerun with DEBUG=pw:browser for its exit code or signal)');
  });
  // One user's portal open while the load builds up: its client reports its delivery health
  // after a minute, so the stats page's "Are users' screens fresh?" card has a report to show.
  const watcher = await browser.newContext();
  await (await watcher.newPage()).goto(`${url}/#token=${encodeURIComponent(viewer)}`);
  await waitForLoad(url, Number(opts['min-completed']), Number(opts['max-wait']) * 1000);
  await watcher.close();
  // The task page: the newest finished PDF import (four stages, each against its usual time).
  const { tasks } = await api(url, '/v1/tasks?type=pdf-import&status=completed&limit=1');
  const taskId = tasks[0].id;

  // [file name, path, token for the fragment (null: the page has its own), what shows once the page has its data]
  const pages = [
    ['console', '/', staff, ['[data-testid="task"] >> nth=8']],
    ['task', `/tasks/${taskId}`, staff, ['[data-testid="stages"]', '[data-testid="log-line"]']],
    ['stats', '/stats', staff, ['[data-testid="eta-accuracy"]', '[data-testid="failures"]', '.share-bar']],
    ['portal', '/', viewer, ['[data-testid="task"] >> nth=8']],
    ...(examples ? [['example-react', '/react/', null, ['[data-testid="task"] >> nth=2']]] : []),
  ].filter(([name]) => !opts.only || opts.only.split(',').includes(name));

  mkdirSync(opts.out, { recursive: true });
  const problems = [];
  for (const [name, path, token, ready] of pages) {
    const context = await browser.newContext({ viewport: { width: 1280, height: 800 }, colorScheme: 'light' });
    try {
      const page = await context.newPage();
      page.on('console', (m) => m.type() === 'error' && problems.push(`${name}: console error: ${m.text()}`));
      page.on('pageerror', (e) => problems.push(`${name}: ${e.message}`));
      await page.goto(`${url}${path}${token ? `#token=${encodeURIComponent(token)}` : ''}`);
      await page.waitForSelector('[data-testid="connection"][data-state="live"]', { timeout: 30_000 });
      for (const selector of ready) await page.waitForSelector(selector, { timeout: 30_000 });
      const frames = () => page.evaluate(() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(() => r()))));
      for (const [size, viewport] of [['desktop', { width: 1280, height: 800 }], ['390', { width: 390, height: 844 }]]) {
        await page.setViewportSize(viewport);
        for (const colorScheme of ['light', 'dark']) {
          await page.emulateMedia({ colorScheme });
          await frames();
          const file = join(opts.out, `demo-${name}-${colorScheme}-${size}.png`);
          // animations: 'disabled' ends a notice's fade-in/out, so no half-transparent toasts.
          await page.screenshot({ path: file, fullPage: size === 'desktop', animations: 'disabled', timeout: 60_000 });
          say(`wrote ${file.replace(`${ROOT}/`, '')}`);
        }
      }
    } finally {
      await context.close();
    }
  }
  for (const p of problems) console.error(`page problem: ${p}`);
}

async function cleanUp() {
  closing = true;
  await browser?.close().catch(() => {});
  if (demo && demo.exitCode === null) {
    const exited = new Promise((r) => demo.once('exit', r));
    demo.kill('SIGTERM');
    await exited;
  }
  rmSync(dir, { recursive: true, force: true });
}

process.once('SIGINT', () => void cleanUp().finally(() => process.exit(130)));
try {
  await main();
  say('done');
} catch (error) {
  console.error(error);
  process.exitCode = 1;
} finally {
  await cleanUp();
}
