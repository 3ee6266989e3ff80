/**
 * Builds the dashboard with Vite, programmatically: `await buildDashboard(outDir)`. The
 * `build` script (`vite build`) does the same into `dist/`; tests build into a folder of their own.
 */
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = dirname(fileURLToPath(import.meta.url));

/** Where `npm run build -w @taskpulse/dashboard` puts the app. */
export const DIST = resolve(HERE, 'dist');

/** Builds the app into `outDir` (emptied first). */
export async function buildDashboard(outDir: string = DIST, options: { development?: boolean } = {}): Promise<void> {
  const { build } = await import('vite');
  await build({
    root: HERE,
    configFile: resolve(HERE, 'vite.config.ts'),
    logLevel: 'silent',
    mode: options.development ? 'development' : 'production',
    // Explicit: a test runner sets NODE_ENV=test, which would otherwise pick React's development build.
    define: { 'process.env.NODE_ENV': JSON.stringify(options.development ? 'development' : 'production') },
    build: { outDir: resolve(outDir), emptyOutDir: true, minify: !options.development },
  });
}
