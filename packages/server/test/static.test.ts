import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { buildTestServer, type TestApp } from './support.ts';

let t: TestApp;
beforeAll(async () => {
  const pages = mkdtempSync(join(tmpdir(), 'taskpulse-pages-'));
  mkdirSync(join(pages, 'app'));
  writeFileSync(join(pages, 'app', 'index.html'), '<h1>hi</h1>');
  writeFileSync(join(pages, 'app', 'main.js'), 'console.log(1)');
  t = await buildTestServer({ staticDir: pages });
});
afterAll(async () => t.close());

it('serves built pages beside the API, and nothing outside their folder', async () => {
  const page = await t.api('GET', '/app/', undefined, null);
  expect(page.headers.get('content-type')).toContain('text/html');
  expect(page.text).toBe('<h1>hi</h1>');
  expect((await t.api('GET', '/app/main.js', undefined, null)).headers.get('content-type')).toContain('javascript');
  for (const p of ['/app/nope.js', '/%2e%2e/%2e%2e/etc/passwd', '/..%2f..%2fetc%2fpasswd', '/app/%00']) {
    const r = await t.api('GET', p, undefined, null);
    expect(r.status, p).toBeGreaterThanOrEqual(400);
    expect(r.status, p).toBeLessThan(500);
    expect(r.body.error.code).toBeTruthy();
  }
  expect((await t.api('GET', '/healthz', undefined, '')).status).toBe(200);
});
