/**
 * Manual smoke check in a real Chromium (not part of the test suite; browser tests live with the
 * React examples): two tabs of one origin share one SSE connection (real Web Locks and
 * BroadcastChannel), a completion is delivered in one tab only, and when the leader tab closes
 * the other takes over from its cursor.
 *
 *   npx tsx packages/client/scripts/browser-smoke.ts      (needs /usr/bin/chromium)
 */
import { mkdtempSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { build } from 'esbuild';
import { chromium } from 'playwright-core';
import { startServer } from '@taskpulse/server';
import { adminApi, ADMIN } from '../test/support/real-server.ts';

const bundle = await build({
  entryPoints: [new URL('../src/index.ts', import.meta.url).pathname],
  bundle: true,
  format: 'iife',
  globalName: 'TaskPulse',
  conditions: ['@taskpulse/source'],
  write: false,
});
const page = `<!doctype html><script src="/client.js"></script><script>
window.log = [];
window.start = (url, token) => {
  const c = TaskPulse.createClient({ url, token, heartbeatMs: 500 });
  window.client = c;
  c.notifications.onComplete((n) => window.log.push('complete:' + n.taskId));
};
</script>`;
const web = http.createServer((req, res) => {
  if (req.url === '/client.js') {
    res.writeHead(200, { 'content-type': 'text/javascript' });
    res.end(bundle.outputFiles[0]!.text);
    return;
  }
  res.writeHead(200, { 'content-type': 'text/html' });
  res.end(page);
});
await new Promise<void>((r) => web.listen(0, '127.0.0.1', r));
const origin = `http://127.0.0.1:${(web.address() as AddressInfo).port}`;
const dir = mkdtempSync(join(tmpdir(), 'taskpulse-smoke-'));
const s = await startServer({ port: 0, db: join(dir, 'db'), adminKey: ADMIN, heartbeatMs: 500, logLevel: 'silent', corsOrigins: [origin] });
const api = adminApi(() => s.url);
const token = await api.token('zoe');
const task = await api.start('zoe');
const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--no-sandbox'] });
const tabs = [await (await browser.newContext()).newPage()];
tabs.push(await tabs[0]!.context().newPage());
const check = (ok: boolean, what: string) => {
  console.log(`${ok ? 'ok  ' : 'FAIL'} ${what}`);
  if (!ok) process.exitCode = 1;
};
async function until(what: string, fn: () => Promise<boolean>): Promise<void> {
  for (let i = 0; i < 200; i++) {
    if (await fn()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  check(false, what);
}
const all = (expr: string) => Promise.all(tabs.map((t) => t.evaluate(expr)));
for (const t of tabs) {
  await t.goto(origin);
  await t.evaluate(([u, k]) => (window as unknown as { start(u: string, k: string): void }).start(u!, k!), [s.url, token]);
}
await until('both tabs live', async () => (await all('client.connection.state')).every((x) => x === 'live'));
const roles = await all('client.diagnostics().role');
check(roles.sort().join() === 'follower,leader', `one leader, one follower (${roles})`);
const metrics = await (await fetch(`${s.url}/metrics`)).text();
check(/taskpulse_open_streams 1\b/.test(metrics), 'one SSE connection for two tabs');
await api.progress(task, 50);
await until('progress in both tabs', async () => (await all(`client.watchTask(${JSON.stringify(task.id)}).getSnapshot().task?.progress.done`)).every((d) => d === 50));
await api.complete(task);
await until('completion delivered', async () => (await all('log.length')).some((n) => (n as number) > 0));
await new Promise((r) => setTimeout(r, 1500));
const delivered = (await all('log.length')) as number[];
check(delivered.reduce((a, b) => a + b, 0) === 1, `completion delivered once across tabs (${delivered})`);
const leader = (await all('client.diagnostics().role')).indexOf('leader');
await tabs[leader]!.close();
const other = tabs[1 - leader]!;
await until('the other tab takes over', async () => (await other.evaluate('client.diagnostics().role')) === 'leader');
const t2 = await api.start('zoe');
await api.progress(t2, 7);
await until('the new leader delivers', async () => (await other.evaluate(`client.watchTask(${JSON.stringify(t2.id)}).getSnapshot().task?.progress.done`)) === 7);
check(true, 'leader hand-over');
await browser.close();
await s.close();
web.close();
