/**
 * `taskpulse demo`: the server on embedded SQLite, the example workers creating and running
 * tasks, and the example pages, served from the same origin. The installed package runs the
 * compiled copies in dist/demo/ (see assets.ts); from source it builds them from examples/.
 */
import { cpSync, existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { buildServer } from '@taskpulse/server';
import { compiledDemo, REPO_ROOT } from './assets.ts';
import { BUILD_HINT, dashboardUrl, findDashboard } from './dashboard.ts';

/** What examples/workers/demo.ts exports (typed here: that file is not part of this package). */
interface DemoWorkersModule {
  startDemo(options: { url: string; apiKey: string; owner?: string }): Promise<{ close(): Promise<void> }>;
}

export interface DemoCliOptions {
  host: string;
  port: number;
  db: string;
  adminKey: string | null;
  owner: string;
  logLevel: string;
  dashboardDir?: string | null;
}

export async function runDemo(o: DemoCliOptions): Promise<void> {
  const adminKey = o.adminKey ?? `tpk_demo_${randomBytes(18).toString('base64url')}`;
  const pagesDir = mkdtempSync(join(tmpdir(), 'taskpulse-demo-pages-'));
  const compiled = compiledDemo();
  const buildScript = REPO_ROOT ? join(REPO_ROOT, 'examples/web/build.ts') : null;
  const withPages = compiled !== null || (buildScript !== null && existsSync(buildScript));
  const dashboard = findDashboard(o.dashboardDir);
  const server = await buildServer({
    host: o.host, port: o.port, db: o.db, adminKey, logLevel: o.logLevel, staticDir: withPages ? pagesDir : null,
    dashboardDir: dashboard.dir, dashboardMissingHint: BUILD_HINT,
  });
  const { token } = await server.tokens.mint(o.owner, 24 * 3600);
  const staff = await server.tokens.mintStaff(24 * 3600);
  let pages = false;
  // Written before listening (the pages get the demo viewer's token in their config.js): once
  // `/healthz` answers, `/` must too, never a 404 while the pages are still being written.
  if (compiled) {
    cpSync(compiled.web, pagesDir, { recursive: true });
    writeFileSync(join(pagesDir, 'config.js'), `window.TASKPULSE = Object.assign(${JSON.stringify({ token })}, window.TASKPULSE || {});\n`);
    pages = true;
  } else if (withPages && buildScript) {
    try {
      const { buildExamples } = (await import(pathToFileURL(buildScript).href)) as { buildExamples: (dir: string, options?: { config?: Record<string, unknown> }) => Promise<void> };
      await buildExamples(pagesDir, { config: { token } });
      pages = true;
    } catch (error) {
      console.error(`(example pages not built: ${(error as Error).message})`);
    }
  }
  const url = await server.listen();
  const workersModule = compiled?.workers ?? join(REPO_ROOT ?? '.', 'examples/workers/demo.ts');
  const { startDemo } = (await import(pathToFileURL(workersModule).href)) as DemoWorkersModule;
  const demo = await startDemo({ url, apiKey: adminKey, owner: o.owner });
  process.stdout.write(`listening on ${url}\n`);
  console.log(`
TaskPulse demo: workers are running AI searches, PDF imports and batches for "${o.owner}".
  staff console    ${dashboardUrl(url, staff.token)}
  customer portal  ${dashboardUrl(url, token)}   (what "${o.owner}" sees)${dashboard.built ? '' : `\n  (the dashboard is not built: ${BUILD_HINT})`}
  admin key      ${adminKey}
  viewer token   ${token}
  ${pages ? `example pages  ${url}/vanilla/  and  ${url}/react/` : 'example pages  (not in this checkout)'}
  watch a task   npx taskpulse watch <taskId> --url ${url} --key ${adminKey}
  all events     curl -N -H "authorization: Bearer ${adminKey}" ${url}/v1/stream
Ctrl-C stops it.`);
  let stopping = false;
  const stop = () => {
    if (stopping) return;
    stopping = true;
    void demo
      .close()
      .catch(() => {})
      .then(() => server.close())
      .finally(() => {
        rmSync(pagesDir, { recursive: true, force: true });
        process.exit(0);
      });
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}
