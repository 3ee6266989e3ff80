/**
 * Browser tests of the example pages (examples/web) in real Chromium against the real server:
 * what the user sees, and when. The pages are built once; every test gets its own browser
 * context (storage, Web Locks, BroadcastChannel) and its own gateway (page origin + proxy that
 * can stall or block the event stream and counts stream requests).
 *
 * Timing assertions are measured from the moment the worker's report was sent to the moment
 * the page's DOM changed (a MutationObserver in the page notes it): report → visible.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { eventually } from '../test-support/eventually.ts';
import type { Browser, BrowserContext } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { buildExamples } from '../examples/web/build.ts';
import { ExamplePage, launchChromium, newContext } from './support/browser.ts';
import { type Gateway, startGateway } from './support/gateway.ts';
import { HEARTBEAT_MS, startTaskPulse, type TestServer, workerApi } from './support/taskpulse.ts';

type Kind = 'vanilla' | 'react';

let outDir: string;
let site: Gateway; // pages only, on their own origin (the cross-origin test)
let server: TestServer;
let browser: Browser;
let api: ReturnType<typeof workerApi>;
const cleanups: Array<() => Promise<unknown>> = [];
let ownerCount = 0;

beforeAll(async () => {
  outDir = mkdtempSync(join(tmpdir(), 'taskpulse-web-'));
  // Development build: React StrictMode runs every effect twice, a harder test of the hooks.
  await buildExamples(outDir, { development: true });
  site = await startGateway(outDir, null);
  server = await startTaskPulse([site.origin]);
  api = workerApi(server.url);
  browser = await launchChromium();
}, 120_000);

afterAll(async () => {
  await Promise.allSettled([browser?.close(), server?.close(), site?.close()]);
  if (outDir) rmSync(outDir, { recursive: true, force: true });
});

afterEach(async () => {
  for (const f of cleanups.splice(0).reverse()) await f().catch(() => {});
});

async function setup() {
  const owner = `user-${process.pid}-${++ownerCount}`;
  const token = await api.token(owner);
  const gateway = await startGateway(outDir, server.url);
  const context = await newContext(browser);
  cleanups.push(() => gateway.close(), () => context.close());
  return { owner, token, gateway, context };
}

/** The page for `task`, configured through the query string. */
function pageUrl(origin: string, kind: Kind, query: Record<string, string>): string {
  return `${origin}/${kind}/?${new URLSearchParams({ heartbeatMs: String(HEARTBEAT_MS), ...query })}`;
}

/** Waits until the server's inbox holds `taskId`'s notification, marked read. */
async function waitForInboxRead(owner: string, taskId: string): Promise<void> {
  await eventually(`the notification of ${taskId} read on the server`, async () => Boolean((await api.notifications(owner)).find((x) => x.taskId === taskId)?.readAt), 15_000, 100);
}

/** Completion toasts can only be counted after the fact: give any duplicate time to show up. */
const SETTLE_MS = 1500;
const settle = () => new Promise((r) => setTimeout(r, SETTLE_MS));

function summary(ms: number[]): string {
  const s = [...ms].sort((a, b) => a - b);
  return `n=${s.length} min=${s[0]} p50=${s[Math.floor(s.length / 2)]} max=${s[s.length - 1]} ms`;
}

describe.each<[Kind, 'cross-origin (?url=)' | 'same origin (window.TASKPULSE)']>([
  ['vanilla', 'cross-origin (?url=)'],
  ['react', 'same origin (window.TASKPULSE)'],
])('%s page, %s', (kind, how) => {
  it('(1) healthy: each report is visible in the page in < 1 s', async () => {
    const { owner, token, gateway, context } = await setup();
    const task = await api.start(owner);
    await api.progress(task, { stage: 'fetch', done: 1, total: 2, message: 'warming up' });
    let page: ExamplePage;
    if (how === 'cross-origin (?url=)') {
      // Pages on one origin, the API on another: CORS, the token in a header, SSE over fetch.
      page = await ExamplePage.open(context, pageUrl(site.origin, kind, { url: server.url, token, task: task.id }));
    } else {
      await context.addInitScript((cfg) => ((window as { TASKPULSE?: unknown }).TASKPULSE = cfg), { token, taskId: task.id, heartbeatMs: HEARTBEAT_MS });
      page = await ExamplePage.open(context, `${gateway.origin}/${kind}/`);
    }
    // A report made before the page opened shows at once (the snapshot).
    await page.waitForMessage('warming up');
    await page.waitForConnection('live');

    const latencies: number[] = [];
    for (let i = 1; i <= 8; i++) {
      const ack = await api.progress(task, { stage: 'parse', done: i, total: 10, message: `page ${i}/10` });
      const shown = await page.waitForMessage(`page ${i}/10`, 10_000);
      latencies.push(shown.at - ack.sentAt);
    }
    console.log(`[${kind}] healthy report → DOM: ${summary(latencies)}`);
    if (how === 'same origin (window.TASKPULSE)') {
      // One client for the page, even with StrictMode's double render and effects: one stream, and
      // no second client queued for the leader lock (a leaked client would wait there forever).
      const locks = await page.page.evaluate(() => navigator.locks.query());
      expect(locks.held?.filter((l) => l.name?.endsWith(':leader'))).toHaveLength(1);
      expect(locks.pending).toEqual([]);
      expect(gateway.openStreams).toBe(1);
    }
    expect(Math.max(...latencies)).toBeLessThan(1000);
    const last = await page.current();
    const truth = await api.task(task.id);
    expect(Number(last.percent)).toBe(truth.progress.percent); // 2 equal stages: 50 + 8/10 × 50 = 90
    expect(last.stage).toBe('Parsing pages (2/2)');
    expect(last.connection).toBe('live');
  }, 90_000);

  it('(3) F5 in the middle of a task: the bar is back at first paint, the completion shows once', async () => {
    const { owner, token, gateway, context } = await setup();
    const task = await api.start(owner);
    const page = await ExamplePage.open(context, pageUrl(gateway.origin, kind, { token, task: task.id }));
    await page.waitForConnection('live');
    await api.progress(task, { stage: 'parse', done: 4, total: 10, message: 'page 4/10' });
    const before = await page.waitForMessage('page 4/10');
    expect(before.percent).toBe('70');

    await page.page.reload();
    const firstCard = await page.waitFor('a task card', 's.status !== null');
    // The first state of the card after the reload is the bar where it was: never blank or lower.
    expect(firstCard.percent).toBe('70');
    // …and the app never showed itself without it: the first state with the app's header has the card.
    expect((await page.seen()).find((s) => s.connection !== null)).toMatchObject({ percent: '70' });
    expect(firstCard.message).toBe('page 4/10');
    const afterReload = await page.waitFor('the server-backed card', `s.source === 'live'`);
    const shownSince = (await page.seen()).filter((s) => s.status !== null);
    expect(shownSince.every((s) => Number(s.percent) >= 70)).toBe(true);
    console.log(`[${kind}] F5: first card state ${firstCard.source} at ${firstCard.percent} %, server-backed ${afterReload.at - firstCard.at} ms later`);

    await page.waitForConnection('live');
    await api.progress(task, { done: 9, total: 10, message: 'page 9/10' });
    await page.waitForMessage('page 9/10');
    await api.complete(task);
    await page.waitFor('the completion toast', `s.completions === 1 && s.status === 'completed' && s.percent === '100'`);
    await waitForInboxRead(owner, task.id);
    if (kind === 'react') {
      // The app's own TanStack query (["finished"]) was invalidated by the completion event.
      await page.page.waitForSelector(`[data-testid="finished"] li[data-task-id="${task.id}"]`, { timeout: 15_000 });
      // The inbox (useNotifications without callbacks) heard the notification and its read.
      await page.page.waitForSelector(`[data-testid="inbox"] li[data-task-id="${task.id}"][data-read="true"]`, { timeout: 15_000 });
    }
    await settle();
    expect(await page.completionsShown()).toBe(1);

    // Another F5 after the completion: finished bar, no second toast.
    await page.page.reload();
    await page.waitFor('the completed task', `s.status === 'completed' && s.source === 'live'`);
    await page.waitForConnection('live');
    await settle();
    expect(await page.completionsShown()).toBe(0);
  }, 90_000);

  it('(3b) a task that finished while no page was open: the toast shows once on the next visit', async () => {
    const { owner, token, gateway, context } = await setup();
    const task = await api.start(owner);
    const url = pageUrl(gateway.origin, kind, { token, task: task.id });
    const first = await ExamplePage.open(context, url);
    await api.progress(task, { stage: 'parse', done: 5, total: 10, message: 'page 5/10' });
    await first.waitForMessage('page 5/10');
    await first.page.close();
    await api.complete(task);

    const next = await ExamplePage.open(context, url);
    await next.waitFor('the completion toast', `s.completions === 1 && s.status === 'completed'`);
    await waitForInboxRead(owner, task.id);
    await settle();
    expect(await next.completionsShown()).toBe(1);
  }, 90_000);

  it('(4) two tabs: one stream connection, one completion toast', async () => {
    const { owner, token, gateway, context } = await setup();
    const task = await api.start(owner);
    const url = pageUrl(gateway.origin, kind, { token, task: task.id });
    const first = await ExamplePage.open(context, url);
    await first.waitForConnection('live');
    const second = await ExamplePage.open(context, url);
    await second.waitForConnection('live');

    await api.progress(task, { stage: 'parse', done: 5, total: 10, message: 'page 5/10' });
    await Promise.all([first.waitForMessage('page 5/10'), second.waitForMessage('page 5/10')]);
    const roles = await Promise.all([first, second].map((p) => p.page.evaluate(() => window.taskpulse!.diagnostics().role)));
    expect([...roles].sort()).toEqual(['follower', 'leader']);
    const leader = roles[0] === 'leader' ? first : second;
    const follower = leader === first ? second : first;
    // One connection: the follower tab never opens a stream. (Counting the leader's requests
    // instead would be flaky: on a loaded machine a late heartbeat may make it reconnect, which
    // is correct behaviour.)
    expect(follower.streamRequests).toBe(0);
    expect(leader.streamRequests).toBeGreaterThanOrEqual(1);
    expect(gateway.openStreams).toBe(1);

    await api.complete(task);
    await Promise.all([first, second].map((p) => p.waitFor('completed', `s.status === 'completed'`)));
    await eventually('a completion shown', async () => (await first.completionsShown()) + (await second.completionsShown()) > 0, 15_000, 50);
    await waitForInboxRead(owner, task.id);
    await settle();
    const counts = [await first.completionsShown(), await second.completionsShown()];
    console.log(`[${kind}] two tabs: stream requests ${gateway.streamRequests} (leader ${leader.streamRequests}, follower ${follower.streamRequests}), toasts per tab ${counts}`);
    expect(counts[0]! + counts[1]!).toBe(1);
    expect(follower.streamRequests).toBe(0);
  }, 90_000);
});

describe('(5) short-lived viewer tokens', () => {
  it('tokens expire under an open page: the server ends their streams, the client goes on with fresh ones, no gap', async () => {
    const { owner, gateway, context } = await setup();
    const task = await api.start(owner);
    const TTL_S = 3;
    let minted = 0;
    // The app's backend: every call mints a new 3 s token (what `getToken` fetches in a real app).
    await context.exposeBinding('mintViewerToken', async () => {
      minted++;
      return api.token(owner, TTL_S);
    });
    await context.addInitScript(
      `window.TASKPULSE = { getToken: () => window.mintViewerToken(), taskId: ${JSON.stringify(task.id)}, heartbeatMs: ${HEARTBEAT_MS} };`,
    );
    const page = await ExamplePage.open(context, `${gateway.origin}/react/`);
    await page.waitForConnection('live');
    const streamsAtStart = gateway.streamRequests;
    // Report across four token lifetimes; each report must show before the next is sent.
    let i = 0;
    while (minted < 5) {
      i++;
      await api.progress(task, { stage: 'parse', done: i, total: 100_000, message: `report ${i}` });
      await page.waitForMessage(`report ${i}`, 10_000);
    }
    // The stream was replaced as tokens ran out (the client refreshes ahead of `exp`; the server
    // ends whatever still runs on an expired one), never more than one open at a time.
    expect(gateway.streamRequests - streamsAtStart).toBeGreaterThanOrEqual(2);
    expect(gateway.openStreams).toBeLessThanOrEqual(1);
    await page.waitForConnection('live');
    const last = await page.current();
    expect(Number(last.percent)).toBe((await api.task(task.id)).progress.percent);
    console.log(`[react] ${i} reports shown across ${minted} tokens of ${TTL_S} s, ${gateway.streamRequests - streamsAtStart} stream reopenings`);
  }, 90_000);
});

describe('(2) push fails: updates keep coming by polling, and push comes back', () => {
  it('vanilla page, stream stalled (socket open, nothing forwarded) → polling within 5 s, live again when it flows', async () => {
    const { owner, token, gateway, context } = await setup();
    const task = await api.start(owner);
    const page = await ExamplePage.open(context, pageUrl(gateway.origin, 'vanilla', { token, task: task.id }));
    await page.waitForConnection('live');
    await api.progress(task, { stage: 'parse', done: 1, total: 10, message: 'before the stall' });
    await page.waitForMessage('before the stall');

    gateway.setStreamMode('stall');
    const stalledAt = Date.now();
    const staleness: number[] = [];
    for (let i = 1; i <= 3; i++) {
      const ack = await api.progress(task, { done: 1 + i, total: 10, message: `stalled ${i}` });
      const shown = await page.waitForMessage(`stalled ${i}`, 15_000);
      staleness.push(shown.at - ack.sentAt);
    }
    const polling = await page.waitForConnection('polling', 15_000, stalledAt);
    console.log(`[vanilla] stalled: polling after ${polling.at - stalledAt} ms; report → DOM ${summary(staleness)}`);
    expect(Math.max(...staleness)).toBeLessThanOrEqual(5000);

    gateway.setStreamMode('pass');
    const flowingAt = Date.now();
    // Push is retried with full-jitter backoff (capped at 30 s): give it that long.
    const live = await page.waitForConnection('live', 45_000, flowingAt);
    const ack = await api.progress(task, { done: 9, total: 10, message: 'live again' });
    const shown = await page.waitForMessage('live again');
    console.log(`[vanilla] stall lifted: live after ${live.at - flowingAt} ms; then report → DOM ${shown.at - ack.sentAt} ms; stream requests ${gateway.streamRequests}`);
    expect(shown.at - ack.sentAt).toBeLessThan(5000);
    expect(gateway.streamRequests).toBeGreaterThan(1);
  }, 120_000);

  it('React page, stream blocked (502, open streams cut) → polling within 5 s, live again when unblocked', async () => {
    const { owner, token, gateway, context } = await setup();
    const task = await api.start(owner);
    const page = await ExamplePage.open(context, pageUrl(gateway.origin, 'react', { token, task: task.id }));
    await page.waitForConnection('live');

    gateway.setStreamMode('block');
    const blockedAt = Date.now();
    const staleness: number[] = [];
    for (let i = 1; i <= 3; i++) {
      const ack = await api.progress(task, { stage: 'parse', done: i, total: 10, message: `blocked ${i}` });
      const shown = await page.waitForMessage(`blocked ${i}`, 15_000);
      staleness.push(shown.at - ack.sentAt);
    }
    const polling = await page.waitForConnection('polling', 15_000, blockedAt);
    console.log(`[react] blocked: polling after ${polling.at - blockedAt} ms; report → DOM ${summary(staleness)}`);
    expect(Math.max(...staleness)).toBeLessThanOrEqual(5000);

    gateway.setStreamMode('pass');
    const openAt = Date.now();
    const live = await page.waitForConnection('live', 45_000, openAt);
    const ack = await api.progress(task, { done: 9, total: 10, message: 'live again' });
    const shown = await page.waitForMessage('live again');
    console.log(`[react] unblocked: live after ${live.at - openAt} ms; then report → DOM ${shown.at - ack.sentAt} ms`);
    expect(shown.at - ack.sentAt).toBeLessThan(5000);
  }, 120_000);
});

describe('production build (what `taskpulse demo` serves)', () => {
  it('both pages load minified, list the viewer\'s tasks (useTasks / watchTasks) and follow them live', async () => {
    const prodDir = mkdtempSync(join(tmpdir(), 'taskpulse-web-prod-'));
    cleanups.push(async () => rmSync(prodDir, { recursive: true, force: true }));
    await buildExamples(prodDir);
    const { readFile } = await import('node:fs/promises');
    for (const kind of ['vanilla', 'react'] as const) {
      const js = await readFile(join(prodDir, kind, 'app.js'), 'utf8');
      expect(js).not.toMatch(/ZodError/); // the protocol's zod schemas stay on the server
      expect(js.length / js.split('\n').length).toBeGreaterThan(1000); // minified: long lines
    }
    const owner = `user-${process.pid}-prod`;
    const token = await api.token(owner);
    const gateway = await startGateway(prodDir, server.url);
    const context = await newContext(browser);
    cleanups.push(() => gateway.close(), () => context.close());
    const index = await (await fetch(`${gateway.origin}/`)).text();
    expect(index).toContain('href="react/"');

    const older = await api.start(owner, 'ai-search');
    const task = await api.start(owner);
    for (const kind of ['vanilla', 'react'] as const) {
      const page = await ExamplePage.open(context, `${gateway.origin}/${kind}/?token=${encodeURIComponent(token)}&heartbeatMs=${HEARTBEAT_MS}`);
      await page.waitForConnection('live');
      // Newest first: the card the recorder reads is the newest task's.
      await page.page.waitForFunction((ids) => ids.every((id) => document.querySelector(`[data-task-id="${id}"]`)), [older.id, task.id], { timeout: 15_000 });
      await api.progress(task, { stage: 'parse', done: kind === 'react' ? 6 : 3, total: 10, message: `${kind} list` });
      const shown = await page.waitForMessage(`${kind} list`);
      expect(shown.stage).toBe('Parsing pages (2/2)');
      await page.page.close();
    }
  }, 90_000);
});
