#!/usr/bin/env node
/**
 * Consumer test: TaskPulse as a user gets it from npm. Packs every public package (`npm pack`
 * runs each package's prepack build), installs the tarballs into a fresh app in a temp folder
 * OUTSIDE the repository (no workspace links), and proves from there:
 *
 *   1. every entry point loads with require() from CommonJS, with no warning on stderr;
 *   2. `npx taskpulse --help` answers without loading the server (figure printed);
 *   3. `npx taskpulse serve` starts and answers /healthz (and `/` with the dashboard, when the
 *      tarball contains one);
 *   4. an ESM worker and a CommonJS worker written as docs/worker.md says complete a task;
 *   5. a consumer .ts file type-checks under moduleResolution "bundler" and "node16";
 *   6. a Vite-built page using @taskpulse/client and a React app using @taskpulse/react show a
 *      task's live progress in Chromium.
 *
 * Usage: node e2e/consumer/run.mjs [--report file.json] [--keep] [--reuse <dir kept by --keep> [--skip <regexp>]]
 * Prints `consumer: N passed, N failed` and exits non-zero when a check failed. The fixtures
 * (the app's files) are in e2e/consumer/fixtures/. Tools that build or check the app (TypeScript,
 * Vite, playwright-core) are the repo's own devDependencies, run with the app as their root: the
 * packages under test come only from the tarballs.
 */
import { execFile, spawn } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, realpathSync, rmSync, statSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { dirname, extname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const FIXTURES = join(ROOT, 'e2e/consumer/fixtures');
const PACKAGES = ['@taskpulse/protocol', '@taskpulse/client', '@taskpulse/react', '@taskpulse/worker', '@taskpulse/server', 'taskpulse'];
/** Third-party packages the app installs beside the tarballs, at the repo's exact versions (deterministic). */
const APP_DEPS = ['react', 'react-dom', '@tanstack/react-query', 'bullmq', '@types/node', '@types/react', '@types/react-dom'];
/** Modules `taskpulse --help` must not load: the server's heavy dependencies. */
const HEAVY = ['fastify', 'better-sqlite3', 'pg', 'ioredis', 'pino', 'prom-client', 'jose', 'zod', '@taskpulse/server/dist/app.js'];
const ADMIN = 'tpk_consumer_admin_0123456789abcdef';

const args = process.argv.slice(2);
const reportFile = args.includes('--report') ? resolve(args[args.indexOf('--report') + 1]) : null;
const keep = args.includes('--keep');
/** A work folder kept by an earlier --keep run: skips packing and installing (for working on the checks). */
const reuse = args.includes('--reuse') ? resolve(args[args.indexOf('--reuse') + 1]) : null;
const run = promisify(execFile);
const work = reuse ?? realpathSync(mkdtempSync(join(tmpdir(), 'taskpulse-consumer-')));
if (!relative(ROOT, work).startsWith('..')) throw new Error(`the consumer app must live outside the repository, got ${work}`);
const app = join(work, 'app');
const figures = {};
const results = [];
const cleanups = [];
const started = performance.now();
const elapsed = () => `${((performance.now() - started) / 1000).toFixed(1)} s`;

/** npm and node children get no npm_* variables of a parent `npm run` (they would steer the app's npm), nor our dev condition. */
const cleanEnv = Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^npm_/i.test(k) || k === 'npm_config_nodedir'));
delete cleanEnv.NODE_OPTIONS;

/** `--skip <regexp>`: leave out the checks whose name matches (only with --reuse, for working on the others). */
const skip = reuse && args.includes('--skip') ? new RegExp(args[args.indexOf('--skip') + 1]) : null;

async function check(name, fn) {
  if (skip?.test(name)) return;
  const t0 = performance.now();
  try {
    const note = await fn();
    results.push({ name, ok: true });
    console.log(`ok    ${name}${note ? ` — ${note}` : ''} (${((performance.now() - t0) / 1000).toFixed(1)} s)`);
  } catch (error) {
    results.push({ name, ok: false, error: String(error?.stack ?? error) });
    console.log(`FAIL  ${name}\n${String(error?.stack ?? error).replace(/^/gm, '      ')}`);
  }
}
function assert(ok, message) {
  if (!ok) throw new Error(message);
}
const sh = (cmd, argv, options = {}) => run(cmd, argv, { cwd: app, env: cleanEnv, maxBuffer: 64 * 1024 * 1024, ...options });
const version = (name) => JSON.parse(readFileSync(join(ROOT, 'node_modules', name, 'package.json'), 'utf8')).version;
async function api(url, path, { method = 'GET', body, key = ADMIN } = {}) {
  const res = await fetch(url + path, {
    method,
    headers: { authorization: `Bearer ${key}`, ...(body ? { 'content-type': 'application/json' } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`${method} ${path} → ${res.status} ${text}`);
  return text ? JSON.parse(text) : null;
}
/** Polls the API for a condition (these are processes we don't control: no event to await). */
async function until(what, fn, timeoutMs = 30_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await fn();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
/** Starts a long-running child and resolves with the first stdout match of `pattern`. */
function startChild(cmd, argv, pattern, options = {}) {
  // Its own process group: npx runs the command as a child, and the cleanup stops them both.
  const child = spawn(cmd, argv, { cwd: app, env: cleanEnv, stdio: ['ignore', 'pipe', 'pipe'], detached: true, ...options });
  cleanups.push(() => child.exitCode === null && process.kill(-child.pid, 'SIGTERM'));
  let out = '';
  let err = '';
  child.stderr.on('data', (d) => (err += d));
  const match = new Promise((res, rej) => {
    child.stdout.on('data', (d) => {
      out += d;
      const m = pattern.exec(out);
      if (m) res(m);
    });
    child.once('exit', (code) => rej(new Error(`${cmd} ${argv.join(' ')} exited with ${code}\n${out}\n${err}`)));
  });
  return { child, match, output: () => out + err };
}

// ---------------------------------------------------------------------------------------------
console.log(`consumer test in ${work}`);
const tarballs = join(work, 'tarballs');
let installed = false;
if (reuse) {
  installed = true;
  cpSync(FIXTURES, app, { recursive: true });
  figures.dashboardInTarball = existsSync(join(app, 'node_modules/taskpulse/dist/dashboard/index.html'));
} else {
mkdirSync(tarballs);
await check('npm pack every public package (prepack builds it)', async () => {
  const { stdout } = await run('npm', ['pack', '--json', '--pack-destination', tarballs, ...PACKAGES.flatMap((p) => ['-w', p])], {
    cwd: ROOT, env: cleanEnv, maxBuffer: 64 * 1024 * 1024,
  });
  const packed = JSON.parse(stdout.slice(stdout.indexOf('[')));
  assert(packed.length === PACKAGES.length, `packed ${packed.length} packages, expected ${PACKAGES.length}`);
  figures.tarballs = {};
  for (const p of packed) {
    const files = p.files.map((f) => f.path);
    assert(files.includes('dist/index.js') && files.includes('dist/index.d.ts'), `${p.name}: no dist/index.js + .d.ts in the tarball`);
    assert(files.includes('README.md') && files.includes('LICENSE'), `${p.name}: README.md or LICENSE missing`);
    assert(!files.some((f) => f.startsWith('src/') || f.endsWith('.tsbuildinfo')), `${p.name}: sources or build info in the tarball`);
    figures.tarballs[p.name] = { file: p.filename, packed: p.size, unpacked: p.unpackedSize, files: p.entryCount };
  }
  const cli = packed.find((p) => p.name === 'taskpulse');
  figures.dashboardInTarball = cli.files.some((f) => f.path === 'dist/dashboard/index.html');
  assert(cli.files.some((f) => f.path === 'dist/demo/workers.js'), 'taskpulse: the compiled demo is missing');
  return Object.entries(figures.tarballs).map(([n, t]) => `${n} ${(t.packed / 1024).toFixed(1)} kB`).join(', ');
});

await check('install the tarballs into a fresh app outside the repo', async () => {
  mkdirSync(app);
  const deps = Object.fromEntries(Object.values(figures.tarballs ?? {}).map((t, i) => [PACKAGES[i], `file:../tarballs/${t.file}`]));
  for (const name of APP_DEPS) deps[name] = version(name);
  writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'consumer-app', private: true, type: 'module', dependencies: deps, allowScripts: { 'better-sqlite3': true } }, null, 2));
  cpSync(FIXTURES, app, { recursive: true });
  const t0 = performance.now();
  await sh('npm', ['install', '--no-audit', '--no-fund', '--loglevel=error']);
  figures.installSeconds = Math.round((performance.now() - t0) / 1000);
  for (const p of PACKAGES) {
    const dir = join(app, 'node_modules', p);
    assert(!statSync(dir).isSymbolicLink() && realpathSync(dir).startsWith(app), `${p} is not a real install in the app`);
  }
  installed = true;
  return `npm install ${figures.installSeconds} s (better-sqlite3 compiles from source)`;
});
}
if (!installed) finish();

await check('every entry point loads with require() from CommonJS, no warning', async () => {
  const { stdout, stderr } = await sh(process.execPath, ['require-all.cjs']);
  assert(stderr.trim() === '', `stderr: ${stderr}`);
  const loaded = JSON.parse(stdout);
  for (const [entry, n] of Object.entries(loaded)) assert(n > 0, `${entry} has no exports`);
  return `${Object.keys(loaded).length} entries`;
});

await check('`npx taskpulse --help` answers without loading the server', async () => {
  // Which modules --help loads, recorded by a resolve hook: a deterministic proxy for its speed.
  writeFileSync(join(work, 'trace.mjs'), `import { register } from 'node:module';
register('data:text/javascript,' + encodeURIComponent(\`import { appendFileSync } from 'node:fs';
export async function resolve(s, c, next) { const r = await next(s, c); appendFileSync(${JSON.stringify(join(work, 'loaded.txt'))}, r.url + '\\\\n'); return r; }\`));`);
  const { stdout } = await sh(join(app, 'node_modules/.bin/taskpulse'), ['--help'], { env: { ...cleanEnv, NODE_OPTIONS: `--import ${join(work, 'trace.mjs')}` } });
  assert(/serve/.test(stdout) && /TASKPULSE_PORT/.test(stdout), 'help lists no commands or environment variables');
  const loaded = readFileSync(join(work, 'loaded.txt'), 'utf8');
  const heavy = HEAVY.filter((m) => loaded.includes(`/node_modules/${m}/`) || loaded.includes(`/node_modules/${m}`.replace(/\/$/, '') + '/'));
  assert(heavy.length === 0, `--help loaded ${heavy.join(', ')}`);
  assert(!loaded.includes('/tsx/'), '--help loaded tsx');
  // Figures, median of 5, printed and not asserted (the machine may be loaded): wall time, and CPU
  // time (user + sys, what the command itself costs whatever else runs) from bash's `time`.
  const time = async (command) => {
    const runs = [];
    for (let i = 0; i < 5; i++) {
      const { stderr } = await sh('bash', ['-c', `TIMEFORMAT='%R %U %S'; time (${command} >/dev/null)`]);
      const [real, user, sys] = stderr.trim().split('\n').pop().split(' ').map(Number);
      runs.push({ wallMs: Math.round(real * 1000), cpuMs: Math.round((user + sys) * 1000) });
    }
    const median = (k) => runs.map((r) => r[k]).sort((a, b) => a - b)[2];
    return { wallMs: median('wallMs'), cpuMs: median('cpuMs') };
  };
  figures.help = await time('node_modules/.bin/taskpulse --help');
  figures.npxHelp = await time('npx taskpulse --help');
  const say = (t) => `${t.wallMs} ms wall, ${t.cpuMs} ms CPU${t.wallMs >= 1000 ? ' — OVER 1 s' : ''}`;
  return `taskpulse --help ${say(figures.help)}; npx taskpulse --help ${say(figures.npxHelp)} (median of 5)`;
});

// The pages' static server (their origin must be allowed by the TaskPulse server's CORS).
const pages = http.createServer((req, res) => {
  const path = decodeURIComponent(new URL(req.url, 'http://x').pathname);
  let file = join(app, 'web', path);
  if (!file.startsWith(join(app, 'web'))) return void res.writeHead(403).end();
  if (existsSync(file) && statSync(file).isDirectory()) file = join(file, 'index.html');
  if (!existsSync(file)) return void res.writeHead(404).end();
  const type = { '.html': 'text/html', '.js': 'text/javascript', '.css': 'text/css' }[extname(file)] ?? 'application/octet-stream';
  res.writeHead(200, { 'content-type': type }).end(readFileSync(file));
});
await new Promise((r) => pages.listen(0, '127.0.0.1', r));
cleanups.push(() => pages.close());
const pagesOrigin = `http://127.0.0.1:${pages.address().port}`;

let url = null;
await check('`npx taskpulse serve` starts and answers /healthz' + (figures.dashboardInTarball ? ' and the dashboard at /' : ''), async () => {
  const server = startChild('npx', ['taskpulse', 'serve', '--port', '0', '--db', join(work, 'serve.db'), '--admin-key', ADMIN, '--cors-origins', pagesOrigin, '--log-level', 'warn'], /listening on (http:\/\/\S+)/);
  url = (await server.match)[1];
  const health = await fetch(`${url}/healthz`);
  assert(health.status === 200, `/healthz → ${health.status}`);
  if (!figures.dashboardInTarball) return 'no dashboard in the tarball yet: `/` not checked';
  const home = await fetch(`${url}/`);
  const html = await home.text();
  assert(home.status === 200 && /text\/html/.test(home.headers.get('content-type') ?? '') && /<script/.test(html), `/ → ${home.status}, not the dashboard`);
  return 'dashboard served at /';
});

async function workerCompletes(file, type) {
  assert(url, 'no server');
  const { key } = await api(url, '/v1/keys', { method: 'POST', body: { role: 'worker', name: type } });
  const task = await api(url, '/v1/tasks', { method: 'POST', key, body: { type, owner: 'consumer', stages: [{ key: 'parse' }] } });
  const { stdout, stderr } = await sh(process.execPath, [file], { env: { ...cleanEnv, TASKPULSE_URL: url, TASKPULSE_KEY: key, TASK_TYPE: type }, timeout: 60_000 });
  const done = await api(url, `/v1/tasks/${task.id}`);
  assert(done.status === 'completed', `task ${done.status}; worker said ${stdout}${stderr}`);
  assert(done.progress.percent === 100, `percent ${done.progress.percent}`);
  assert(stderr.trim() === '', `worker stderr: ${stderr}`);
  return `task ${task.id} completed, result ${JSON.stringify(done.result)}`;
}
await check('a plain Node ESM worker (docs/worker.md) completes a task', () => workerCompletes('worker.mjs', 'consumer-esm'));
await check('a CommonJS worker completes a task', () => workerCompletes('worker.cjs', 'consumer-cjs'));

const tsc = join(ROOT, 'node_modules/typescript/bin/tsc');
for (const mode of ['bundler', 'node16']) {
  await check(`consumer.ts type-checks with moduleResolution ${mode}`, async () => {
    try {
      await sh(process.execPath, [tsc, '-p', `tsconfig.${mode}.json`]);
    } catch (error) {
      throw new Error(`${error.stdout ?? ''}${error.stderr ?? error}`);
    }
  });
}

let browser = null;
for (const [dir, what] of [['client-page', 'a Vite-built page with @taskpulse/client'], ['react-page', 'a Vite-built React app with @taskpulse/react']]) {
  await check(`${what} shows live progress in Chromium`, async () => {
    assert(url, 'no server');
    const { build } = await import(join(ROOT, 'node_modules/vite/dist/node/index.js'));
    await build({ root: join(app, dir), base: './', logLevel: 'warn', configFile: false, build: { outDir: join(app, 'web', dir), emptyOutDir: true } });
    const { chromium } = await import(join(ROOT, 'node_modules/playwright-core/index.mjs'));
    browser ??= await chromium.launch({
      executablePath: '/usr/bin/chromium',
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
    const { key } = await api(url, '/v1/keys', { method: 'POST', body: { role: 'worker', name: dir } });
    const type = `consumer-${dir}`;
    await api(url, '/v1/tasks', { method: 'POST', key, body: { type, owner: 'zoe' } });
    const { task, lease } = await api(url, '/v1/tasks/claim', { method: 'POST', key, body: { types: [type] } });
    const { token } = await api(url, '/v1/tokens', { method: 'POST', key, body: { owner: 'zoe', ttlSeconds: 600 } });
    const page = await browser.newPage();
    const errors = [];
    page.on('pageerror', (e) => errors.push(String(e)));
    try {
      await page.goto(`${pagesOrigin}/${dir}/?${new URLSearchParams({ url, token, task: task.id })}`);
      const shows = (status, percent) =>
        page.waitForSelector(`#out[data-status="${status}"]${percent === null ? '' : `[data-percent="${percent}"]`}`, { timeout: 20_000 }).catch(async (e) => {
          throw new Error(`page never showed ${status} ${percent}%, it shows ${await page.innerHTML('body')} (${errors.join('; ')}): ${e.message}`);
        });
      await shows('running', null); // claimed, no progress reported yet
      // Each report only after the page showed the previous one: live updates, not a final reload.
      await api(url, `/v1/tasks/${task.id}/progress`, { method: 'POST', key, body: { lease: lease.token, done: 1, total: 4 } });
      await shows('running', '25');
      await api(url, `/v1/tasks/${task.id}/progress`, { method: 'POST', key, body: { lease: lease.token, done: 3, total: 4 } });
      await shows('running', '75');
      await api(url, `/v1/tasks/${task.id}/complete`, { method: 'POST', key, body: { lease: lease.token, result: { ok: true } } });
      await shows('completed', '100');
      assert(errors.length === 0, `page errors: ${errors.join('; ')}`);
    } finally {
      await page.close();
    }
    return 'running → 25% → 75% → completed 100%';
  });
}
await browser?.close();
finish();

function finish() {
  for (const fn of cleanups.reverse()) {
    try {
      fn();
    } catch {}
  }
  const passed = results.filter((r) => r.ok).length;
  const failed = results.length - passed;
  figures.totalSeconds = Math.round((performance.now() - started) / 1000);
  if (reportFile) writeFileSync(reportFile, JSON.stringify({ passed, failed, results, figures }, null, 2));
  if (!keep && !reuse) rmSync(work, { recursive: true, force: true });
  else console.log(`kept ${work}`);
  console.log(`figures: ${JSON.stringify(figures)}`);
  console.log(`consumer: ${passed} passed, ${failed} failed (${elapsed()})`);
  process.exit(failed > 0 || passed === 0 ? 1 : 0);
}
