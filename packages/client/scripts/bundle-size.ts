/**
 * The browser bundle of `@taskpulse/client`, measured: esbuild `--bundle --minify`, ESM, browser
 * platform, es2022, then gzip (level 9) — and a check that no zod came along (protocol modules
 * the client imports must be the zod-free entries: `/constants`, `/retry`, `/error-body`,
 * `/frames`). `bench/client.ts` reports the same figure.
 *
 *   npx tsx packages/client/scripts/bundle-size.ts      (exits 1 over the budget)
 */
import { argv } from 'node:process';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { build } from 'esbuild';

/**
 * The budget, min+gzip, in bytes: 12.25 KiB. Issue 7 set 12 KiB; issue 12's delta streams (the
 * client makes `task.updated` deltas whole: ~140 bytes of code, which a progress event that
 * does not resend the task pays back many times over) took it past by ~130 bytes.
 */
export const BUDGET_BYTES = 12.25 * 1024;

/** Sizes of the client's browser bundle, in bytes. */
export async function measureClientBundle(): Promise<{ minBytes: number; gzipBytes: number; hasZod: boolean }> {
  const out = await build({
    entryPoints: [fileURLToPath(new URL('../src/index.ts', import.meta.url))],
    bundle: true,
    minify: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    // The sources, as in development (the published build is the same code, compiled).
    conditions: ['@taskpulse/source'],
    write: false,
    metafile: true,
    logLevel: 'error',
  });
  const code = out.outputFiles[0]!.contents;
  return { minBytes: code.length, gzipBytes: gzipSync(code, { level: 9 }).length, hasZod: Object.keys(out.metafile.inputs).some((p) => p.includes('zod')) };
}

if (argv[1] !== undefined && fileURLToPath(import.meta.url) === argv[1]) {
  const { minBytes, gzipBytes, hasZod } = await measureClientBundle();
  const kib = (n: number) => `${(n / 1024).toFixed(2)} KiB`;
  console.log(`min ${kib(minBytes)}, min+gzip ${kib(gzipBytes)} (${gzipBytes} bytes; budget ${kib(BUDGET_BYTES)}), zod: ${hasZod}`);
  if (gzipBytes > BUDGET_BYTES || hasZod) process.exitCode = 1;
}
