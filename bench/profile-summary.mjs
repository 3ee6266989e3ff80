#!/usr/bin/env node
// Sums self time per function and per file in a V8 .cpuprofile (from `node --cpu-prof`).
//
//   node bench/profile-summary.mjs /tmp/prof/CPU.*.cpuprofile [--top 40]
//
// Prints the busiest functions (self time), the busiest files, and the share spent idle, in GC
// and in native code, so a change to the request path can be judged by where the time went.
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';

const { values, positionals } = parseArgs({ options: { top: { type: 'string', default: '40' } }, allowPositionals: true });
const top = Number(values.top);
for (const file of positionals) {
  const p = JSON.parse(readFileSync(file, 'utf8'));
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const self = new Map();
  // Samples are node ids; timeDeltas[i] is the time before sample i.
  for (let i = 0; i < p.samples.length; i++) {
    const id = p.samples[i];
    self.set(id, (self.get(id) ?? 0) + (p.timeDeltas[i] ?? 0));
  }
  const fn = new Map();
  const files = new Map();
  let total = 0;
  let idle = 0;
  for (const [id, us] of self) {
    const n = byId.get(id);
    const cf = n.callFrame;
    total += us;
    if (cf.functionName === '(idle)') {
      idle += us;
      continue;
    }
    const url = cf.url.replace(/^file:\/\//, '').replace(/.*\/(node_modules|packages)\//, '$1/');
    const key = `${cf.functionName || '(anonymous)'}  ${url}:${cf.lineNumber + 1}`;
    fn.set(key, (fn.get(key) ?? 0) + us);
    const fkey = url || `(${cf.functionName})`;
    files.set(fkey, (files.get(fkey) ?? 0) + us);
  }
  const busy = total - idle;
  const pct = (us) => ((100 * us) / busy).toFixed(1).padStart(5) + '%';
  const ms = (us) => (us / 1000).toFixed(0).padStart(7) + ' ms';
  console.log(`${file}\n  total ${ms(total)}, idle ${ms(idle)}, busy ${ms(busy)}`);
  console.log('\n  self time by function (% of busy)');
  for (const [k, us] of [...fn].sort((a, b) => b[1] - a[1]).slice(0, top)) console.log(`  ${pct(us)} ${ms(us)}  ${k}`);
  console.log('\n  self time by file');
  for (const [k, us] of [...files].sort((a, b) => b[1] - a[1]).slice(0, top)) console.log(`  ${pct(us)} ${ms(us)}  ${k}`);
}
