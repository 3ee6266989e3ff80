/**
 * The hooks in real Chromium (no DOM library is installed for Node): `browser/harness.tsx` is
 * bundled with React's development build and each scenario runs under StrictMode against a fake
 * client. The same hooks against the real server are exercised by e2e/web.test.ts.
 */
import { build } from 'esbuild';
import { type Browser, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

let browser: Browser;
let page: Page;

beforeAll(async () => {
  const bundle = await build({
    entryPoints: [new URL('./browser/harness.tsx', import.meta.url).pathname],
    bundle: true,
    format: 'iife',
    platform: 'browser',
    jsx: 'automatic',
    conditions: ['@taskpulse/source'], // the sources, no build needed
    write: false,
    define: { 'process.env.NODE_ENV': '"development"' },
    logLevel: 'silent',
  });
  // The Debian Chromium; nothing is downloaded.
  browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  page = await browser.newPage();
  page.on('pageerror', (error) => console.error(`[page error] ${error.message}`));
  await page.setContent('<!doctype html><body></body>');
  await page.addScriptTag({ content: bundle.outputFiles[0]!.text });
}, 60_000);

afterAll(async () => {
  await browser?.close();
});

const run = <K extends string>(name: K) => page.evaluate((n) => (window as unknown as { scenarios: Record<string, () => Promise<unknown>> }).scenarios[n]!(), name) as Promise<Record<string, unknown>>;

describe('hooks in a real browser (StrictMode, development build)', () => {
  it('useTask: one watch despite double render and effects, live updates, switching id, null, unmount', async () => {
    const r = await run('useTask');
    expect(r.first).toBe('a v0'); // shown on the first commit
    expect(r.opened).toEqual(['task:a']);
    expect(r.subscribed).toEqual(['task:a']);
    expect(r.updated).toBe('a v1');
    expect(r.switched).toBe('b v0');
    expect(r.subscribedAfterSwitch).toEqual(['task:b']);
    expect(r.nulled).toBe('none');
    expect(r.subscribedAfterNull).toEqual([]);
    expect(r.subscribedAfterUnmount).toEqual([]);
    expect(r.totalOpened).toBe(2);
  });

  it('useTasks: an inline filter keeps one view across re-renders; a new filter opens a new one', async () => {
    const r = await run('useTasks');
    expect(r.afterRerenders).toEqual(['tasks:{"status":"active","type":"x"}']);
    expect(r.afterChange).toEqual(['tasks:{"status":"active","type":"x"}', 'tasks:{"status":"active","type":"y"}']);
    expect(r.subscribed).toEqual(['tasks:{"status":"active","type":"y"}']);
    expect(r.shown).toBe('1');
  });

  it('useNotifications: one live registration, the latest callback runs, unmount unregisters', async () => {
    const r = await run('useNotifications');
    expect(r.active).toBe(1);
    expect(r.got).toEqual(['second:tsk_9']);
    expect(r.registrationsAfterRerender).toBe(2); // StrictMode's mount, unmount, mount — not one per render
    expect(r.activeAfterUnmount).toBe(0);
  });

  it('useInvalidateOnEvents: progress refetches nothing, a burst of completions refetches once', async () => {
    const r = await run('useInvalidateOnEvents');
    expect(r.before).toBe('1');
    expect(r.subscribers).toBe(1);
    expect(r.afterProgress).toBe('1');
    expect(r.afterCompletion).toBe('2');
    expect(r.fetches).toBe(2);
    expect(r.subscribersAfterUnmount).toBe(0);
  });
});
