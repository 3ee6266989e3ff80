/**
 * Files the CLI serves, found relative to this module so they work both from the installed
 * package (compiled into `dist/` by scripts/build.mjs) and from the sources in the monorepo.
 *
 *   dist/dashboard/        the built dashboard (a copy of packages/dashboard/dist)
 *   dist/demo/workers.js   the demo workers (examples/workers, bundled)
 *   dist/demo/web/         the demo's example pages (examples/web, built)
 */
import { existsSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = dirname(fileURLToPath(import.meta.url));
/** Running from packages/cli/src (tests, the development launcher) rather than a build. */
const FROM_SOURCE = basename(HERE) === 'src';
/** The monorepo root when running from source. */
export const REPO_ROOT = FROM_SOURCE ? resolve(HERE, '../../..') : null;

/** The built dashboard to serve at `/`, or null when none was built. */
export function dashboardDir(): string | null {
  const candidates = [join(HERE, 'dashboard')];
  if (REPO_ROOT) candidates.push(join(REPO_ROOT, 'packages/dashboard/dist'));
  return candidates.find((dir) => existsSync(join(dir, 'index.html'))) ?? null;
}

/** The compiled demo (workers and example pages), or null when running from source. */
export function compiledDemo(): { workers: string; web: string } | null {
  const workers = join(HERE, 'demo/workers.js');
  const web = join(HERE, 'demo/web');
  return existsSync(workers) && existsSync(join(web, 'index.html')) ? { workers, web } : null;
}
