import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startTestServer, type TestServer } from './support.ts';

let t: TestServer;
beforeAll(async () => {
  const pages = mkdtempSync(join(tmpdir(), 'taskpulse-pages-'));
  mkdirSync(join(pages, 'app'));
  writeFileSync(join(pages, 'app', 'index.html'), '<h1>hi</h1>');
  writeFileSync(join(pages, 'app', 'main.js'), 'console.log(1)');
  t = await startTestServer({ staticDir: pages });
});
afterAll(async () => t.close());

it('serves built pages beside the API, and nothing outside their folder', async () => {
  const page = await fetch(`${t.url}/app/`);
  expect(page.headers.get('content-type')).toContain('text/html');
  expect(await page.text()).toBe('<h1>hi</h1>');
  expect((await fetch(`${t.url}/app/main.js`)).headers.get('content-type')).toContain('javascript');
  for (const p of ['/app/nope.js', '/%2e%2e/%2e%2e/etc/passwd', '/..%2f..%2fetc%2fpasswd', '/app/%00']) {
    const r = await fetch(t.url + p);
    expect(r.status, p).toBeGreaterThanOrEqual(400);
    expect(r.status, p).toBeLessThan(500);
    expect(((await r.json()) as any).error.code).toBeTruthy();
  }
  expect((await t.api('GET', '/healthz', undefined, '')).status).toBe(200);
});
