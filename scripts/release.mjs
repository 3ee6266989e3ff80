#!/usr/bin/env node
/**
 * Release rehearsal: checks versions, builds, tests, and runs `npm publish --dry-run` for every
 * public package. It never publishes: `--dry-run` is always passed, whatever the arguments.
 * The real publish is a maintainer's `npm publish -w <package>` per package, in the order below,
 * after this passed (README, "Versioning and releases").
 *
 * Usage: node scripts/release.mjs [--skip-tests]
 *   --skip-tests   build and dry-run only (the Vitest suite and the consumer test take minutes)
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
/** In dependency order: a package is published after what it depends on. */
const PUBLIC = [
  ['@taskpulse/protocol', 'packages/protocol'],
  ['@taskpulse/client', 'packages/client'],
  ['@taskpulse/react', 'packages/react'],
  ['@taskpulse/worker', 'packages/worker'],
  ['@taskpulse/server', 'packages/server'],
  ['taskpulse', 'packages/cli'],
];
const run = (cmd, args) => {
  console.log(`\n$ ${cmd} ${args.join(' ')}`);
  execFileSync(cmd, args, { cwd: ROOT, stdio: 'inherit' });
};
const fail = (message) => {
  console.error(`release: ${message}`);
  process.exit(1);
};

// 1. One version for every public package; internal dependencies pinned to it; a CHANGELOG entry.
const manifests = PUBLIC.map(([name, dir]) => ({ name, dir, pkg: JSON.parse(readFileSync(join(ROOT, dir, 'package.json'), 'utf8')) }));
const version = manifests[0].pkg.version;
for (const { name, pkg } of manifests) {
  if (pkg.name !== name) fail(`${name}: package.json says ${pkg.name}`);
  if (pkg.version !== version) fail(`${name} is ${pkg.version}, ${manifests[0].name} is ${version}: release them together`);
  if (pkg.private) fail(`${name} is private`);
  for (const [dep, range] of Object.entries(pkg.dependencies ?? {})) {
    if (PUBLIC.some(([n]) => n === dep) && range !== version) fail(`${name} depends on ${dep}@${range}, not the exact ${version}`);
  }
}
if (!readFileSync(join(ROOT, 'CHANGELOG.md'), 'utf8').includes(`## ${version}`)) fail(`CHANGELOG.md has no "## ${version}" entry`);
console.log(`release rehearsal of ${version}: ${PUBLIC.map(([n]) => n).join(', ')}`);

// 2. Build, type-check, test.
run(process.execPath, ['scripts/build.mjs']);
run(process.execPath, ['node_modules/typescript/bin/tsc', '-p', 'tsconfig.json', '--noEmit']);
if (!process.argv.includes('--skip-tests')) {
  run(process.execPath, ['node_modules/vitest/vitest.mjs', 'run']);
  run(process.execPath, ['e2e/consumer/run.mjs']);
}

// 3. What npm would publish (each package's prepack runs again: incremental, seconds).
for (const [name] of PUBLIC) run('npm', ['publish', '--dry-run', '--access', 'public', '-w', name]);
console.log(`\nrelease rehearsal of ${version} passed; nothing was published.`);
