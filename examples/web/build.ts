/**
 * Bundles the two example pages into static files:
 *
 *   <outDir>/index.html          links to both pages
 *   <outDir>/config.js           optional settings (window.TASKPULSE); a host may serve its own
 *   <outDir>/style.css
 *   <outDir>/vanilla/index.html, app.js
 *   <outDir>/react/index.html,   app.js
 *
 * Usage: `await buildExamples('dist/web')`, or `npx tsx examples/web/build.ts dist/web`.
 */
import { mkdir, readFile, rm, writeFile, copyFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { build } from 'esbuild';

const HERE = dirname(fileURLToPath(import.meta.url));

/** Options of {@link buildExamples}. */
export interface BuildExamplesOptions {
  /**
   * React's development build (StrictMode double effects, warnings), unminified; the browser
   * tests use it. @defaultValue false
   */
  development?: boolean;
  /** Written into `config.js` as `window.TASKPULSE` defaults (e.g. `{url}`); the query string still wins. */
  config?: Record<string, string | number>;
}

/** The logo as the pages' icon (inline: no /favicon.ico request, whoever serves the pages). */
const ICON = "data:image/svg+xml,%3Csvg xmlns='http://www.w3.org/2000/svg' viewBox='0 0 32 32'%3E%3Crect width='32' height='32' rx='8' fill='%234f46e5'/%3E%3Cpath d='M5 17h6l3-8 4 14 3-6h6' fill='none' stroke='white' stroke-width='2.5' stroke-linecap='round' stroke-linejoin='round'/%3E%3C/svg%3E";

const PAGES = [
  { dir: 'vanilla', entry: 'vanilla/main.ts', title: 'TaskPulse — no framework' },
  { dir: 'react', entry: 'react/main.ts', title: 'TaskPulse — React' },
] as const;

/**
 * Builds both pages into `outDir` (emptied first).
 * @example
 * ```ts
 * await buildExamples('/tmp/taskpulse-web');   // then serve that folder
 * ```
 */
export async function buildExamples(outDir: string, options: BuildExamplesOptions = {}): Promise<void> {
  const out = resolve(outDir);
  const development = options.development ?? false;
  await rm(out, { recursive: true, force: true });
  await mkdir(out, { recursive: true });
  await build({
    entryPoints: Object.fromEntries(PAGES.map((p) => [`${p.dir}/app`, join(HERE, p.entry)])),
    outdir: out,
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    jsx: 'automatic',
    // The @taskpulse/* sources (no build needed); the published demo pages are built from them too.
    conditions: ['@taskpulse/source'],
    minify: !development,
    sourcemap: development ? 'inline' : false,
    define: { 'process.env.NODE_ENV': JSON.stringify(development ? 'development' : 'production') },
    logLevel: 'silent',
  });
  const template = await readFile(join(HERE, 'shared/page.html'), 'utf8');
  for (const page of PAGES) await writeFile(join(out, page.dir, 'index.html'), template.replace('__TITLE__', page.title));
  await copyFile(join(HERE, 'shared/style.css'), join(out, 'style.css'));
  const config = options.config ?? {};
  await writeFile(
    join(out, 'config.js'),
    `// Settings of the example pages; the query string (?url=&token=&task=&transport=&heartbeatMs=) wins.\n` +
      `window.TASKPULSE = Object.assign(${JSON.stringify(config)}, window.TASKPULSE || {});\n`,
  );
  await writeFile(
    join(out, 'index.html'),
    `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>TaskPulse examples</title><link rel="icon" href="${ICON}"><link rel="stylesheet" href="style.css"></head>` +
      `<body><main><h1>TaskPulse examples</h1><ul>` +
      PAGES.map((p) => `<li><a href="${p.dir}/" onclick="this.href='${p.dir}/'+location.search">${p.title}</a></li>`).join('') +
      `</ul><p>Add <code>?token=&lt;viewer token&gt;</code> (and <code>&amp;task=&lt;id&gt;</code>) to the address, or set <code>window.TASKPULSE</code> in <code>config.js</code>.</p></main></body></html>\n`,
  );
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  const outDir = process.argv[2] ?? 'dist/web';
  await buildExamples(outDir);
  process.stdout.write(`built ${resolve(outDir)}\n`);
}
