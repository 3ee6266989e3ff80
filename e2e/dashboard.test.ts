/**
 * The dashboard (packages/dashboard) in real Chromium against the real server, same origin, as
 * `taskpulse serve` runs it: the staff console, the customer portal, live updates pushed from a
 * worker's reports, actions, and what a viewer may never see. Saves screenshots of every page,
 * light and dark, desktop and 390 px, to e2e/.screenshots/ (docs/screenshots/ holds copies).
 */
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { Task } from '@taskpulse/protocol';
import { startServer } from '@taskpulse/server';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { buildDashboard } from '../packages/dashboard/build.ts';
import { buildExamples } from '../examples/web/build.ts';
import { launchChromium } from './support/browser.ts';
import { ADMIN, HEARTBEAT_MS } from './support/taskpulse.ts';

const SHOTS = resolve(import.meta.dirname, '.screenshots');

let dir: string;
let url: string;
let close: () => Promise<void>;
let browser: Browser;
let staff: string;
const contexts: BrowserContext[] = [];
/** Console errors and uncaught exceptions of every page, checked after each test. */
const pageErrors: string[] = [];
let n = 0;
const uid = () => `${process.pid}-${++n}`;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'taskpulse-e2e-dash-'));
  // Development build: React's StrictMode runs effects twice and warns on mistakes (a test fails on any console error).
  await buildDashboard(join(dir, 'app'), { development: true });
  // The example pages beside it, as `taskpulse demo` serves them (their console is checked too).
  await buildExamples(join(dir, 'web'), { development: true });
  const s = await startServer({ port: 0, db: join(dir, 'e2e.db'), adminKey: ADMIN, heartbeatMs: HEARTBEAT_MS, dashboardDir: join(dir, 'app'), staticDir: join(dir, 'web'), logLevel: 'silent' });
  url = s.url;
  close = s.close;
  browser = await launchChromium();
  staff = (await call<{ token: string }>('POST', '/v1/tokens', { role: 'staff', ttlSeconds: 3600 })).token;
  mkdirSync(SHOTS, { recursive: true });
}, 180_000);

afterAll(async () => {
  await Promise.allSettled([browser?.close(), close?.()]);
  if (dir) rmSync(dir, { recursive: true, force: true });
});

afterEach(async () => {
  for (const c of contexts.splice(0)) await c.close().catch(() => {});
  const errors = pageErrors.splice(0);
  expect(errors, 'console errors in the page').toEqual([]);
}, 60_000);

async function call<T = any>(method: string, path: string, body?: unknown, credential = ADMIN): Promise<T> {
  const res = await fetch(url + path, {
    method,
    headers: { authorization: `Bearer ${credential}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`${method} ${path} → ${res.status} ${text}`);
  return (text ? JSON.parse(text) : undefined) as T;
}

interface Running {
  id: string;
  lease: string;
}
const STAGES = [
  { key: 'fetch', label: 'Fetching' },
  { key: 'parse', label: 'Parsing pages' },
];
async function start(owner: string, type: string, extra: Record<string, unknown> = {}): Promise<Running> {
  // A long lease: a slow run of the suite must not see the reaper requeue these tasks.
  const r = await call<{ task: Task; lease: { token: string } }>('POST', '/v1/tasks', { type, owner, start: true, stages: STAGES, leaseMs: 3_600_000, ...extra });
  return { id: r.task.id, lease: r.lease.token };
}
const queued = async (owner: string, type: string) => (await call<Task>('POST', '/v1/tasks', { type, owner })).id;
const progress = (t: Running, body: Record<string, unknown>) => call('POST', `/v1/tasks/${t.id}/progress`, { lease: t.lease, leaseMs: 3_600_000, ...body });
const complete = (t: Running, result: unknown = { ok: true }) => call<Task>('POST', `/v1/tasks/${t.id}/complete`, { lease: t.lease, result });
const viewerToken = async (owner: string) => (await call<{ token: string }>('POST', '/v1/tokens', { owner, ttlSeconds: 3600 })).token;

async function open(path: string, token: string, o: { viewport?: { width: number; height: number }; colorScheme?: 'light' | 'dark' } = {}): Promise<Page> {
  const context = await browser.newContext({ viewport: o.viewport ?? { width: 1280, height: 800 }, colorScheme: o.colorScheme ?? 'light' });
  contexts.push(context);
  const page = await context.newPage();
  page.on('console', (m) => {
    if (m.type() === 'error') pageErrors.push(m.text());
  });
  page.on('pageerror', (e) => pageErrors.push(e.message));
  await page.goto(`${url}${path}#token=${encodeURIComponent(token)}`);
  return page;
}

const rowIds = (page: Page) => page.$$eval('[data-testid="task"]', (rows) => rows.map((r) => r.getAttribute('data-task-id')));

describe('screenshots of every page, light and dark, desktop and 390 px', () => {
  let detail: Running;
  let viewer: string;
  beforeAll(async () => {
    // A little of everything, so each page has something to show (run first: a clean store).
    const owners = ['acme-ana', 'globex-li', 'initech-sam'];
    for (const [i, owner] of owners.entries()) {
      for (let k = 0; k < 3; k++) {
        const t = await start(owner, ['pdf-import', 'ai-search', 'csv-export'][(i + k) % 3]!, { tags: [`project:${i + 1}`], input: { file: `report-${i}-${k}.pdf` } });
        await progress(t, { done: 4, total: 4, log: 'downloaded' });
        await progress(t, { stage: 'parse', done: 1 + k + i, total: 6, message: `Parsing page ${1 + k + i}/6`, log: `parsing page ${1 + k + i}` });
        if (k === 2) await complete(t, { pages: 6, words: 1234 + i });
      }
    }
    const bad = await start('globex-li', 'ai-search');
    await call('POST', `/v1/tasks/${bad.id}/fail`, { lease: bad.lease, error: { code: 'upstream_timeout', message: 'the search index did not answer within 30 s' } });
    await queued('acme-ana', 'pdf-import');
    detail = await start('acme-ana', 'pdf-import', { input: { file: 'annual-report.pdf', pages: 48 }, tags: ['project:1'] });
    await progress(detail, { done: 48, total: 48, log: 'fetched 48 pages' });
    await progress(detail, { stage: 'parse', done: 31, total: 48, message: 'Parsing page 31/48', log: { level: 'warn', message: 'page 17 is a scan: OCR used' } });
    viewer = await viewerToken('acme-ana');
  }, 60_000);

  // [name, path, credential, what shows once the page has its data]
  const PAGES: [string, () => string, () => string, string][] = [
    ['console', () => '/', () => staff, '[data-testid="task"] >> nth=8'],
    ['task', () => `/tasks/${detail.id}`, () => staff, '[data-testid="log-line"] >> nth=1'],
    ['stats', () => '/stats', () => staff, '[data-testid="failures"]'],
    ['portal', () => '/', () => viewer, '[data-testid="task"] >> nth=2'],
    ['inbox', () => '/inbox', () => viewer, '[data-testid="notification"]'],
    ['no-token', () => '/', () => '', '.gate-card'],
  ];
  for (const [name, path, token, ready] of PAGES) {
    it(name, async () => {
      // One page, four looks: the system colour scheme and the viewport change under it.
      const page = await open(path(), token());
      if (token()) await page.waitForSelector('[data-testid="connection"][data-state="live"]');
      await page.waitForSelector(ready);
      const frame = () => page.evaluate(() => new Promise<void>((r) => requestAnimationFrame(() => requestAnimationFrame(() => r()))));
      for (const [size, viewport] of [['desktop', { width: 1280, height: 800 }], ['390', { width: 390, height: 844 }]] as const) {
        await page.setViewportSize(viewport);
        for (const colorScheme of ['light', 'dark'] as const) {
          await page.emulateMedia({ colorScheme });
          await frame();
          await page.screenshot({ path: join(SHOTS, `${name}-${colorScheme}-${size}.png`), fullPage: size === 'desktop' });
        }
      }
    }, 90_000);
  }
});

// Real Chromium on a shared 2-core machine: a test takes 10–25 s alone, more under load.
describe('staff console', { timeout: 90_000 }, () => {
  it('answers / and /tasks/<id> with the app, and keeps the token out of the address bar', async () => {
    for (const p of ['/', '/tasks/tsk_x', '/stats']) {
      const r = await fetch(url + p);
      expect(r.headers.get('content-type')).toContain('text/html');
    }
    const page = await open('/', staff);
    await page.waitForSelector('[data-testid="connection"][data-state="live"]');
    expect(page.url()).toBe(`${url}/`);
    expect(await page.evaluate(() => sessionStorage.getItem('taskpulse.token'))).toBe(staff);
    // A reload keeps the session (sessionStorage), without the fragment.
    await page.reload();
    await page.waitForSelector('[data-testid="task-table"], .empty');
  });

  it('lists tasks of three owners; a running task\'s percent moves live, without reloading or refetching the list', async () => {
    const type = `three-${uid()}`;
    const tasks = await Promise.all(['ana', 'bo', 'cy'].map((o) => start(`${o}-${uid()}`, type)));
    const page = await open(`/?type=${type}`, staff);
    await page.waitForFunction((k) => document.querySelectorAll('[data-testid="task"]').length === k, 3);
    expect((await rowIds(page)).sort()).toEqual(tasks.map((t) => t.id).sort());
    const owners = await page.$$eval('[data-testid="task"] .col-owner', (c) => c.map((x) => x.textContent));
    expect(new Set(owners).size).toBe(3);
    await page.waitForSelector('[data-testid="connection"][data-state="live"]');

    let listReads = 0;
    let navigations = 0;
    page.on('request', (r) => new URL(r.url()).pathname === '/v1/tasks' && listReads++);
    page.on('framenavigated', () => navigations++);
    const t = tasks[1]!;
    for (const done of [1, 2, 3]) {
      await progress(t, { done, total: 4, message: `item ${done}/4` });
      const truth = await call<Task>('GET', `/v1/tasks/${t.id}`);
      await page.waitForSelector(`[data-task-id="${t.id}"] [data-testid="bar"][data-percent="${truth.progress.percent}"]`, { timeout: 10_000 });
      expect(await page.textContent(`[data-task-id="${t.id}"] [data-testid="message"]`)).toBe(`item ${done}/4`);
    }
    expect(navigations).toBe(0);
    expect(listReads).toBe(0);
  });

  it('the status counts follow a claim (queued → running) live, without a reload', async () => {
    const type = `claim-${uid()}`;
    const id = await queued(`dee-${uid()}`, type);
    const page = await open(`/?type=${type}`, staff);
    await page.waitForSelector('[data-testid="connection"][data-state="live"]');
    const count = (s: string) => page.textContent(`[data-testid="filter-${s}"] .count`);
    await page.waitForFunction(() => document.querySelector('[data-testid="filter-queued"] .count')?.textContent === '1');
    expect(await count('running')).toBe('0');
    const claimed = await call<{ task: Task }>('POST', '/v1/tasks/claim', { types: [type] });
    expect(claimed.task.id).toBe(id);
    await page.waitForFunction(() => document.querySelector('[data-testid="filter-running"] .count')?.textContent === '1', undefined, { timeout: 10_000 });
    expect(await count('queued')).toBe('0');
  });

  it('search by id leaves only that task; `/` focuses the search box; a filtered URL reloads to the same view', async () => {
    const type = `search-${uid()}`;
    const a = await start(`sam-${uid()}`, type);
    const b = await start(`sue-${uid()}`, type);
    await queued(`sue-${uid()}`, type);
    const page = await open(`/?type=${type}`, staff);
    await page.waitForFunction(() => document.querySelectorAll('[data-testid="task"]').length === 3);
    await page.locator('body').click({ position: { x: 5, y: 300 } });
    await page.keyboard.press('/');
    expect(await page.evaluate(() => document.activeElement?.getAttribute('role'))).toBe('searchbox');
    await page.keyboard.type(a.id);
    // A prefix of the id may already leave one row; the URL follows the box a moment later, so
    // wait for both (not one, then assert the other).
    await page.waitForFunction((id) => {
      const rows = [...document.querySelectorAll('[data-testid="task"]')];
      return rows.length === 1 && rows[0]!.getAttribute('data-task-id') === id && new URLSearchParams(location.search).get('q') === id;
    }, a.id);
    expect(new URL(page.url()).searchParams.get('q')).toBe(a.id);

    await page.goto(`${url}/?type=${type}&status=running&q=${encodeURIComponent(b.id)}`);
    await page.waitForFunction((id) => {
      const rows = [...document.querySelectorAll('[data-testid="task"]')];
      return rows.length === 1 && rows[0]!.getAttribute('data-task-id') === id;
    }, b.id);
    await page.reload();
    await page.waitForFunction((id) => {
      const rows = [...document.querySelectorAll('[data-testid="task"]')];
      return rows.length === 1 && rows[0]!.getAttribute('data-task-id') === id;
    }, b.id);
    expect(await page.getAttribute('[data-testid="filter-running"]', 'aria-pressed')).toBe('true');
    expect(await page.inputValue('[role="searchbox"]')).toBe(b.id);
    // Back goes to the previous filters.
    await page.goBack();
    await page.waitForFunction(() => document.querySelectorAll('[data-testid="task"]').length === 1);
  });

  it('arrow keys move through the table and Enter opens the task page with stages, a log line and the result', async () => {
    const type = `detail-${uid()}`;
    const t = await start(`dee-${uid()}`, type, { input: { url: 'https://example.org/report.pdf' } });
    await progress(t, { done: 2, total: 2, log: 'fetched 2 files' });
    await progress(t, { stage: 'parse', done: 1, total: 3, log: { level: 'warn', message: 'page 2 is a scan' } });
    await complete(t, { pages: 3, summary: 'three pages parsed' });
    const other = await start(`dee-${uid()}`, type);
    const page = await open(`/?type=${type}`, staff);
    await page.waitForFunction(() => document.querySelectorAll('[data-testid="task"]').length === 2);
    await page.focus('[data-testid="task"]');
    expect(await page.evaluate(() => document.activeElement?.getAttribute('data-task-id'))).toBe(other.id);
    await page.keyboard.press('ArrowDown');
    expect(await page.evaluate(() => document.activeElement?.getAttribute('data-task-id'))).toBe(t.id);
    // The row moved to by keyboard shows a focus ring.
    expect(await page.evaluate(() => document.activeElement!.matches(':focus-visible') && getComputedStyle(document.activeElement!).outlineStyle)).toBe('solid');
    // The table is one tab stop (the row, then its copy button): Shift+Tab leaves it for the sort buttons, each with its ring too.
    await page.keyboard.press('Shift+Tab');
    expect(await page.evaluate(() => document.activeElement?.closest('th') !== null && getComputedStyle(document.activeElement!).outlineStyle)).toBe('solid');
    // …and Tab comes back to the row it left.
    await page.keyboard.press('Tab');
    expect(await page.evaluate(() => document.activeElement?.getAttribute('data-task-id'))).toBe(t.id);
    await page.keyboard.press('Enter');
    await page.waitForSelector('[data-testid="task-page"]');
    expect(new URL(page.url()).pathname).toBe(`/tasks/${t.id}`);
    expect(await page.$$eval('[data-testid="stage-row"]', (r) => r.map((x) => x.getAttribute('data-stage-status')))).toEqual(['completed', 'completed']);
    await page.waitForSelector('[data-testid="log-line"]:has-text("page 2 is a scan")');
    expect(await page.textContent('[data-testid="log-count"]')).toBe('2 lines');
    expect(await page.textContent('[data-testid="json-result"]')).toContain('three pages parsed');
    expect(await page.textContent('[data-testid="json-input"]')).toContain('report.pdf');
    // A reload of the task page's own URL (the server answers it with the app).
    await page.reload();
    await page.waitForSelector('[data-testid="task-page"][data-status="completed"]');
  });

  it('sorts by a column on the server, over the whole list (not within the page), and pages on in that order', async () => {
    const type = `sort-${uid()}`;
    // The oldest task is the only one running: newest first, it is not on the first page.
    const oldest = await start(`sol-${uid()}`, type);
    for (let i = 0; i < 52; i++) await queued(`sol-${uid()}`, type);
    const page = await open(`/?type=${type}`, staff);
    await page.waitForFunction(() => document.querySelectorAll('[data-testid="task"]').length === 50);
    expect(await rowIds(page)).not.toContain(oldest.id);
    await page.click('th button.sort:has-text("Status")');
    await page.waitForFunction((id) => document.querySelector('[data-testid="task"]')?.getAttribute('data-task-id') === id, oldest.id);
    expect(new URL(page.url()).searchParams.get('sort')).toBe('status');
    expect(await page.getAttribute('th:has(button.sort:has-text("Status"))', 'aria-sort')).toBe('descending');
    expect(await page.textContent('.pager')).not.toContain('within this page');
    await page.click('.pager button:has-text("Next page")');
    await page.waitForFunction(() => document.querySelectorAll('[data-testid="task"]').length === 3);
    expect(await rowIds(page)).not.toContain(oldest.id);
  });

  it('says "session expired" when the staff token runs out, and forgets the token', async () => {
    const short = (await call<{ token: string }>('POST', '/v1/tokens', { role: 'staff', ttlSeconds: 10 })).token;
    const page = await open('/', short);
    await page.waitForSelector('[data-testid="connection"][data-state="live"]');
    await page.waitForSelector('[data-testid="gate-problem"][data-problem="session_expired"]', { timeout: 20_000 });
    expect(await page.textContent('[data-testid="gate-problem"]')).toMatch(/session has expired.*new link/i);
    expect(await page.evaluate(() => sessionStorage.getItem('taskpulse.token'))).toBeNull();
    // The server ends the stream at the token's expiry: a request refused then (401) is expected here.
    for (let i = pageErrors.length - 1; i >= 0; i--) if (/status of 401/.test(pageErrors[i]!)) pageErrors.splice(i, 1);
  });

  it('cancels and retries from the task page', async () => {
    const id = await queued(`cat-${uid()}`, `actions-${uid()}`);
    const page = await open(`/tasks/${id}`, staff);
    await page.click('[data-testid="cancel"]');
    await page.click('dialog[open] >> text=Cancel task');
    await page.waitForSelector('[data-testid="task-page"][data-status="canceled"]');
    await page.click('[data-testid="retry"]');
    await page.click('dialog[open] >> button:has-text("Retry")');
    await page.waitForSelector('[data-testid="task-page"][data-status="queued"]');
    const task = await call<Task>('GET', `/v1/tasks/${id}`);
    expect(task.status).toBe('queued');
    expect(task.attempts?.map((a) => a.status)).toEqual(['canceled']);
    await page.waitForSelector('[data-testid="attempts"]');
  });

  it('cancels everything a filter matches, then retries a selection, each after a confirm', async () => {
    const type = `bulk-${uid()}`;
    const ids = await Promise.all([1, 2, 3].map(() => queued(`bud-${uid()}`, type)));
    const page = await open(`/?type=${type}`, staff);
    await page.waitForSelector('[data-testid="bulk-cancel-all"]:has-text("(3)")');
    await page.click('[data-testid="bulk-cancel-all"]');
    await page.click('dialog[open] >> text=Cancel tasks');
    await page.waitForFunction(() => [...document.querySelectorAll('[data-testid="task"]')].every((r) => r.getAttribute('data-status') === 'canceled'));
    for (const id of ids) expect((await call<Task>('GET', `/v1/tasks/${id}`)).status).toBe('canceled');
    await page.check(`[data-task-id="${ids[0]}"] input[type="checkbox"]`);
    await page.check(`[data-task-id="${ids[2]}"] input[type="checkbox"]`);
    await page.click('[data-testid="bulk-retry"]');
    await page.click('dialog[open] >> text=Retry tasks');
    await page.waitForSelector('[data-testid="bulk-progress"]:has-text("Retried 2 tasks")');
    const after = await Promise.all(ids.map((id) => call<Task>('GET', `/v1/tasks/${id}`)));
    expect(after.map((t) => t.status)).toEqual(['queued', 'canceled', 'queued']);
  });
});

describe('customer portal', { timeout: 120_000 }, () => {
  it('shows only the viewer\'s own tasks, also after live events of others', async () => {
    const me = `vic-${uid()}`;
    const other = `wes-${uid()}`;
    const type = `portal-${uid()}`;
    const mine = await start(me, type);
    const theirs = [await start(other, type)];
    const token = await viewerToken(me);
    const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    contexts.push(context);
    // Any moment the other owner's ids or name appear in the DOM is noted, from the first paint on.
    await context.addInitScript((forbidden: string[]) => {
      (window as unknown as { __leaks: string[] }).__leaks = [];
      new MutationObserver(() => {
        const text = document.documentElement.outerHTML;
        for (const f of forbidden) if (text.includes(f)) (window as unknown as { __leaks: string[] }).__leaks.push(f);
      }).observe(document, { subtree: true, childList: true, characterData: true, attributes: true });
    }, [other, theirs[0]!.id]);
    const page = await context.newPage();
    page.on('pageerror', (e) => pageErrors.push(e.message));
    await page.goto(`${url}/?type=${type}#token=${token}`);
    await page.waitForSelector(`[data-task-id="${mine.id}"]`);
    await page.waitForSelector('[data-testid="connection"][data-state="live"]');
    theirs.push(await start(other, type));
    await progress(theirs[0]!, { done: 1, total: 2, message: 'their secret' });
    await progress(mine, { done: 1, total: 2, message: 'mine moves' });
    await complete(theirs[1]!);
    await page.waitForSelector(`[data-task-id="${mine.id}"] [data-testid="message"]:has-text("mine moves")`);
    expect(await rowIds(page)).toEqual([mine.id]);
    expect(await page.evaluate(() => (window as unknown as { __leaks: string[] }).__leaks)).toEqual([]);
    expect(await page.content()).not.toContain('their secret');
    // The other owner's task page is "no such task", as for one that does not exist.
    await page.goto(`${url}/tasks/${theirs[0]!.id}`);
    await page.waitForSelector('text=No such task');
    expect(await page.evaluate(() => (window as unknown as { __leaks: string[] }).__leaks.filter((x) => !x.startsWith('tsk_')))).toEqual([]);
  });

  it('one notice on screen after 50 completions, the rest counted in it, in the top bar clear of the table; a reload repeats none; the inbox lists them', async () => {
    const me = `nia-${uid()}`;
    const token = await viewerToken(me);
    const page = await open('/', token);
    await page.waitForSelector('[data-testid="connection"][data-state="live"]');
    await page.evaluate(() => {
      const w = window as unknown as { __maxNotices: number };
      w.__maxNotices = 0;
      new MutationObserver(() => {
        w.__maxNotices = Math.max(w.__maxNotices, document.querySelectorAll('[data-testid="completion"]').length);
      }).observe(document.body, { subtree: true, childList: true });
    });
    const type = `flood-${uid()}`;
    for (let i = 0; i < 50; i++) await complete(await start(me, type), { i });
    await page.waitForSelector('[data-testid="more-finished"]', { timeout: 15_000 });
    await page.waitForFunction(() => /\d+ more finished/.test(document.querySelector('[data-testid="more-finished"]')?.textContent ?? ''));
    expect(await page.evaluate(() => (window as unknown as { __maxNotices: number }).__maxNotices)).toBe(1);
    // On a desktop the box sits in the top bar, so it covers no row of the table.
    const { box, bar } = await page.evaluate(() => ({
      box: document.querySelector('[data-testid="notices"]')!.getBoundingClientRect().bottom,
      bar: document.querySelector('.topbar')!.getBoundingClientRect().bottom,
    }));
    expect(box).toBeLessThanOrEqual(bar);
    // Every completion was claimed (marked read), so a reload shows none again.
    await expect.poll(async () => (await call<{ notifications: { readAt: string | null }[] }>('GET', `/v1/notifications?owner=${me}&limit=100`)).notifications.filter((x) => !x.readAt).length, { timeout: 15_000 }).toBe(0);
    await page.reload();
    await page.waitForSelector('[data-testid="connection"][data-state="live"]');
    await page.click('[data-testid="inbox-link"]');
    await page.waitForFunction(() => document.querySelectorAll('[data-testid="notification"]').length === 50);
    expect(await page.$$eval('[data-testid="completion"]', (x) => x.length)).toBe(0);
  }, 120_000); // 50 tasks created and completed over HTTP, one by one

  it('a viewer token cannot use staff routes, and the portal has no staff-only parts', async () => {
    const me = `val-${uid()}`;
    const token = await viewerToken(me);
    const failed = await start(me, 'portal-fail');
    await progress(failed, { done: 1, total: 2, log: 'fetched the file' });
    await call('POST', `/v1/tasks/${failed.id}/fail`, { lease: failed.lease, error: { message: 'nope' } });
    for (const [method, path] of [['POST', `/v1/tasks/${failed.id}/retry`], ['GET', '/v1/stats'], ['GET', '/v1/stats/history'], ['GET', '/v1/client-metrics'], ['POST', '/v1/tokens']] as const) {
      const r = await fetch(url + path, { method, headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: method === 'POST' ? JSON.stringify({ role: 'staff' }) : undefined });
      expect(r.status, path).toBe(403);
    }
    const page = await open(`/tasks/${failed.id}`, token);
    await page.waitForSelector('[data-testid="task-page"][data-status="failed"]');
    // One log line: "1 line", in a box as tall as that line (not the 260 px it may grow to).
    await page.waitForSelector('[data-testid="log-line"]');
    expect(await page.textContent('[data-testid="log-count"]')).toBe('1 line');
    expect(await page.$eval('[data-testid="log"]', (b) => b.getBoundingClientRect().height)).toBeLessThan(80);
    expect(await page.$('[data-testid="retry"]')).toBeNull();
    expect(await page.$('a[href="/stats"]')).toBeNull();
  });
});

/**
 * Watches a page's completion notices from now on: after every DOM change, how many notice boxes
 * show, how much of the screen's height their container takes, and whether any box lets the page
 * show through (a background that is not opaque).
 */
async function watchNotices(page: Page, container: string, box: string): Promise<() => Promise<{ most: number; share: number; seeThrough: string[] }>> {
  await page.evaluate(
    ([container, box]) => {
      const w = window as unknown as { __notices: { most: number; share: number; seeThrough: string[] } };
      w.__notices = { most: 0, share: 0, seeThrough: [] };
      new MutationObserver(() => {
        const boxes = [...document.querySelectorAll<HTMLElement>(box!)];
        w.__notices.most = Math.max(w.__notices.most, document.querySelectorAll('[data-testid="completion"]').length);
        const c = document.querySelector(container!);
        if (c) w.__notices.share = Math.max(w.__notices.share, c.getBoundingClientRect().height / innerHeight);
        for (const b of boxes) {
          const bg = getComputedStyle(b).backgroundColor;
          if (!/^rgb\(/.test(bg)) w.__notices.seeThrough.push(bg);
        }
      }).observe(document.body, { subtree: true, childList: true, characterData: true });
    },
    [container, box],
  );
  return () => page.evaluate(() => (window as unknown as { __notices: { most: number; share: number; seeThrough: string[] } }).__notices);
}

describe('completion notices on a phone and beside the content', { timeout: 120_000 }, () => {
  for (const [name, path, container, box, content] of [
    ['customer portal', '/', '[data-testid="notices"]', '.notice', '.topbar'],
    ['React example', '/react/', '.toasts', '.toast', '[data-testid="tasks"]'],
    ['vanilla example', '/vanilla/', '.toasts', '.toast', '[data-testid="tasks"]'],
  ] as const) {
    it(`${name}: at 390 px one opaque notice at a time, the rest counted in it, under a fifth of the screen; at 1280 px clear of the content`, async () => {
      const me = `pho-${uid()}`;
      const token = await viewerToken(me);
      const context = await browser.newContext({ viewport: { width: 390, height: 844 } });
      contexts.push(context);
      const page = await context.newPage();
      page.on('console', (m) => m.type() === 'error' && pageErrors.push(`${path}: ${m.text()}`));
      page.on('pageerror', (e) => pageErrors.push(`${path}: ${e.message}`));
      await page.goto(path === '/' ? `${url}/#token=${encodeURIComponent(token)}` : `${url}${path}?token=${encodeURIComponent(token)}`);
      await page.waitForSelector('[data-testid="connection"][data-state="live"]');
      const seen = await watchNotices(page, container, box);
      for (let i = 0; i < 6; i++) await complete(await start(me, `phone-${uid()}`), { i });
      await page.waitForFunction(() => /\d+ more finished/.test(document.querySelector('[data-testid="more-finished"]')?.textContent ?? ''), null, { timeout: 15_000 });
      const { most, share, seeThrough } = await seen();
      expect(most).toBe(1);
      expect(share).toBeGreaterThan(0);
      expect(share).toBeLessThan(0.2);
      expect(seeThrough).toEqual([]);
      // The count sits in the one box, not in a box of its own.
      expect(await page.$$eval(box, (b) => b.length)).toBe(1);
      // Desktop: the box is in the top bar (portal) or in the gutter right of the card column (example).
      await page.setViewportSize({ width: 1280, height: 800 });
      await page.evaluate(() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r))));
      const r = await page.evaluate(
        ([container, content]) => ({ box: document.querySelector(container!)!.getBoundingClientRect().toJSON(), content: document.querySelector(content!)!.getBoundingClientRect().toJSON() }),
        [container, content],
      );
      if (path === '/') expect(r.box.bottom).toBeLessThanOrEqual(r.content.bottom);
      else expect(r.box.left).toBeGreaterThanOrEqual(r.content.right);
    });
  }
});

describe('the example pages beside the dashboard', { timeout: 90_000 }, () => {
  it('/react/ and /vanilla/ show live tasks with no console error (the icon included)', async () => {
    const owner = `ex-${uid()}`;
    const t = await start(owner, 'example');
    const token = await viewerToken(owner);
    for (const path of ['/react/', '/vanilla/', '/']) {
      const context = await browser.newContext({ viewport: { width: 390, height: 844 } });
      contexts.push(context);
      const page = await context.newPage();
      page.on('console', (m) => {
        if (m.type() === 'error') pageErrors.push(`${path}: ${m.text()}`);
      });
      page.on('pageerror', (e) => pageErrors.push(`${path}: ${e.message}`));
      await page.goto(`${url}${path}?token=${encodeURIComponent(token)}`);
      if (path !== '/') {
        await page.waitForSelector(`[data-task-id="${t.id}"]`);
        await page.waitForSelector('[data-testid="connection"][data-state="live"]');
      } else await page.waitForSelector('.gate-card');
      // Every page names its icon, so the browser never asks for a missing /favicon.ico (a console 404).
      expect(await page.evaluate(() => document.querySelector('link[rel~="icon"]')?.getAttribute('href') ?? null), path).toMatch(/^data:image\/svg\+xml,/);
    }
  });
});

it('a staff token cannot create keys, claim or report', async () => {
  const t = await start(`sid-${uid()}`, 'staff-limits');
  for (const [path, body] of [
    ['/v1/keys', { role: 'admin', name: 'x' }],
    ['/v1/tasks/claim', {}],
    [`/v1/tasks/${t.id}/progress`, { lease: t.lease, done: 1 }],
  ] as const) {
    const r = await fetch(url + path, { method: 'POST', headers: { authorization: `Bearer ${staff}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
    expect(r.status, path).toBe(403);
  }
});

