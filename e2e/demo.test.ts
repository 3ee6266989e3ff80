/**
 * The README's first command: `taskpulse demo` serves the example pages beside the API, and a
 * browser opening them sees the demo workers' tasks move, live.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { launchChromium } from './support/browser.ts';
import { eventually } from '../test-support/eventually.ts';

const BIN = resolve(import.meta.dirname, '../packages/cli/bin/taskpulse.mjs');
const dir = mkdtempSync(join(tmpdir(), 'taskpulse-demo-e2e-'));
let proc: ChildProcess;
let url = '';
let browser: Browser;

/** A port free right now (the demo must be polled before it says where it listens). */
async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((res) => srv.listen(0, '127.0.0.1', res));
  const { port } = srv.address() as AddressInfo;
  await new Promise((res) => srv.close(res));
  return port;
}

/** What `/` answered the moment `/healthz` first said 200. */
let firstPage = 0;

beforeAll(async () => {
  const port = await freePort();
  url = `http://127.0.0.1:${port}`;
  proc = spawn(process.execPath, [BIN, 'demo', '--port', String(port), '--db', join(dir, 'demo.db')], { stdio: ['ignore', 'pipe', 'inherit'] });
  let exited = false;
  proc.once('exit', () => (exited = true));
  const printed = new Promise<void>((res, rej) => {
    let out = '';
    proc.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      if (/listening on http:\/\/\S+/.test(out) && out.includes('Ctrl-C')) res();
    });
    proc.once('exit', (c) => rej(new Error(`demo exited with ${c}`)));
  });
  // Poll as a load balancer would: the first 200 from /healthz means "serve me now".
  await eventually('the demo healthy', async () => {
    if (exited) throw new Error('demo exited before it was healthy');
    return (await fetch(`${url}/healthz`).then((r) => r.status, () => 0)) === 200;
  }, 60_000);
  firstPage = (await fetch(`${url}/`)).status;
  await printed;
  browser = await launchChromium();
}, 60_000);

it('is ready before it listens: the pages answer as soon as /healthz does', () => {
  expect(firstPage).toBe(200);
});

afterAll(async () => {
  await browser?.close();
  const exited = new Promise((r) => proc.once('exit', r));
  proc.kill('SIGTERM');
  await exited;
  rmSync(dir, { recursive: true, force: true });
});

it('serves the example pages with live demo tasks', async () => {
  const page = await browser.newPage();
  try {
    await page.goto(`${url}/react/`);
    await page.waitForSelector('[data-testid="connection"][data-state="live"]', { timeout: 20_000 });
    const first = await page.waitForSelector('[data-testid="task"][data-status="running"]', { timeout: 20_000 });
    const id = await first.getAttribute('data-task-id');
    const percent = async () => Number((await page.textContent(`[data-task-id="${id}"] [data-testid="percent"]`))?.replace(/[^\d.]/g, '') || '0');
    const start = await percent();
    await page.waitForFunction(
      ([taskId, before]) => {
        const el = document.querySelector(`[data-task-id="${taskId}"]`);
        const p = Number(el?.querySelector('[data-testid="percent"]')?.textContent?.replace(/[^\d.]/g, '') || '0');
        return el?.getAttribute('data-status') !== 'running' || p > (before as number);
      },
      [id, start] as const,
      { timeout: 30_000 },
    );
    expect(await page.isVisible('[data-testid="task"]')).toBe(true);
  } finally {
    await page.close();
  }
}, 90_000);
