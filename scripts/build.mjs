#!/usr/bin/env node
/**
 * Builds every public package into its dist/ (root `prepare`, each package's `prepack`):
 *
 * 1. `tsc -b tsconfig.build.json`: JavaScript + .d.ts per package, in dependency order,
 *    incremental (a second run with no change takes about a second).
 * 2. The `taskpulse` package's demo: examples/workers bundled to packages/cli/dist/demo/workers.js
 *    and the example pages built into packages/cli/dist/demo/web/, so `taskpulse demo` runs from
 *    the installed package with no TypeScript and no repo files.
 * 3. The dashboard, when packages/dashboard exists: `npm run build -w @taskpulse/dashboard`, then
 *    its dist/ copied to packages/cli/dist/dashboard/ (served at `/` by `taskpulse serve`).
 * 4. The root LICENSE copied into each package (npm packs a package's own folder only).
 *
 * Usage: node scripts/build.mjs [--libs | --skip-dashboard]
 *   --libs            steps 1 and 4 only (a library package's prepack: it needs no demo or dashboard)
 */
import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, readdirSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const CLI_DIST = join(ROOT, 'packages/cli/dist');
const started = performance.now();
const step = (what) => console.log(`build: ${what} (${((performance.now() - started) / 1000).toFixed(1)} s)`);
const run = (cmd, args) => execFileSync(cmd, args, { cwd: ROOT, stdio: 'inherit' });

run(process.execPath, [join(ROOT, 'node_modules/typescript/bin/tsc'), '-b', 'tsconfig.build.json']);
step('packages compiled');
if (process.argv.includes('--libs')) {
  copyLicense();
  process.exit(0);
}

const { build } = await import('esbuild');
await build({
  entryPoints: [join(ROOT, 'examples/workers/demo.ts')],
  outfile: join(CLI_DIST, 'demo/workers.js'),
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  // The published worker SDK is a dependency of the `taskpulse` package: import it, don't copy it.
  packages: 'external',
  logLevel: 'warning',
});
// The pages bundle client, react and react-dom in: the installed CLI needs none of them.
run(process.execPath, ['--import', 'tsx', join(ROOT, 'examples/web/build.ts'), join(CLI_DIST, 'demo/web')]);
step('demo workers and pages');

const dashboard = join(ROOT, 'packages/dashboard');
if (process.argv.includes('--skip-dashboard') || !existsSync(join(dashboard, 'package.json'))) {
  step('no dashboard to build');
} else {
  run('npm', ['run', 'build', '-w', '@taskpulse/dashboard']);
  rmSync(join(CLI_DIST, 'dashboard'), { recursive: true, force: true });
  cpSync(join(dashboard, 'dist'), join(CLI_DIST, 'dashboard'), { recursive: true });
  step('dashboard built into packages/cli/dist/dashboard');
}

copyLicense();
step('done');

function copyLicense() {
  for (const pkg of readdirSync(join(ROOT, 'packages'))) {
    if (existsSync(join(ROOT, 'packages', pkg, 'package.json'))) cpSync(join(ROOT, 'LICENSE'), join(ROOT, 'packages', pkg, 'LICENSE'));
  }
}
