import { build } from 'esbuild';
import { gzipSync } from 'node:zlib';
const entry = process.argv[2] ?? 'packages/client/src/index.ts';
const out = await build({ stdin: process.argv[3] ? { contents: process.argv[3], resolveDir: process.cwd(), loader: 'ts' } : undefined, entryPoints: process.argv[3] ? undefined : [entry], bundle: true, minify: true, format: 'esm', platform: 'browser', target: 'es2022', conditions: ['@taskpulse/source'], write: false, metafile: true, logLevel: 'error' });
const code = out.outputFiles[0].contents;
console.log('min', code.length, 'gz', gzipSync(code, { level: 9 }).length);
const o = Object.values(out.metafile.outputs)[0];
const rows = Object.entries(o.inputs).map(([k, v]) => [v.bytesInOutput, k]).sort((a, b) => b[0] - a[0]);
for (const [b, k] of rows) console.log(String(b).padStart(7), k);
