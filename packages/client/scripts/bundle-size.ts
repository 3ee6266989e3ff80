/**
 * The browser bundle of `@taskpulse/client`, measured: esbuild `--bundle --minify`, ESM, browser
 * platform, es2022 (as `bench/client.ts`), then gzip (level 9) — and a check that no zod came along (protocol modules the
 * client imports must be the zod-free entries: `/constants`, `/retry`, `/error-body`, `/frames`).
 *
 *   npx tsx packages/client/scripts/bundle-size.ts      (exits 1 over the budget)
 */
import { gzipSync } from 'node:zlib';
import { build } from 'esbuild';

/** The budget, min+gzip, in bytes (12 KiB). */
const BUDGET_BYTES = 12 * 1024;

const result = await build({
  entryPoints: [new URL('../src/index.ts', import.meta.url).pathname],
  bundle: true,
  minify: true,
  format: 'esm',
  platform: 'browser',
  target: 'es2022',
  write: false,
  metafile: true,
  logLevel: 'error',
});
const code = result.outputFiles[0]!.contents;
const gzipped = gzipSync(code, { level: 9 }).length;
const zod = Object.keys(result.metafile.inputs).filter((f) => f.includes('/zod/'));
const kib = (n: number) => `${(n / 1024).toFixed(2)} KiB`;
console.log(`min ${kib(code.length)}, min+gzip ${kib(gzipped)} (${gzipped} bytes; budget ${kib(BUDGET_BYTES)}), zod files: ${zod.length}`);
if (gzipped > BUDGET_BYTES || zod.length > 0) process.exitCode = 1;
