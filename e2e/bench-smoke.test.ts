/**
 * The benchmark scripts, run with tiny numbers so they keep working. Nothing here is timed:
 * figures come from full runs (docs/benchmarks.md). Each spawns real servers (and Redis), hence
 * the 120 s budget on a loaded machine.
 */
import { spawn } from 'node:child_process';
import { resolve } from 'node:path';
import { expect, it } from 'vitest';

const BENCH = resolve(import.meta.dirname, '../bench');

function run(script: string, args: string[]): Promise<{ code: number | null; out: string }> {
  return new Promise((res) => {
    const proc = spawn(process.execPath, [resolve(BENCH, script), ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    proc.stdout.on('data', (d: Buffer) => (out += d));
    proc.stderr.on('data', (d: Buffer) => (out += d));
    proc.once('exit', (code) => res({ code, out }));
  });
}

it('vs-bullmq runs the batched slow-reader mode on both systems and loses nothing', async () => {
  const { code, out } = await run('vs-bullmq.mjs', ['--jobs', '3', '--updates', '4', '--concurrency', '2', '--rounds', '1', '--idle-ms', '2000', '--modes', 'slow', '--warmup', '8']);
  expect(code, out).toBe(0);
  const rows = out.split('\n').filter((l) => / (taskpulse|bullmq) .* events\/s/.test(l));
  expect(rows, out).toHaveLength(2); // the batched path with a slow reader, on both systems
  for (const row of rows) expect(row, out).toMatch(/lost 0 /);
}, 120_000);

it('fanout saturation mode compares TaskPulse with the bare node:http floor', async () => {
  const { code, out } = await run('fanout.mjs', ['--saturate', '--k', '5', '--step-seconds', '0.3', '--max-steps', '1']);
  expect(code, out).toBe(0);
  expect(out).toMatch(/K=5: TaskPulse max [\d,]+ frames\/s .* % of the floor; TaskPulse RSS/);
}, 120_000);

it('resume-storm catches every stream up with no gap or duplicate and prints the delays', async () => {
  const { code, out } = await run('resume-storm.mjs', ['--streams', '3', '--behind', '300', '--rate', '20']);
  expect(code, out).toBe(0);
  const report = JSON.parse(out.slice(out.indexOf('{'), out.lastIndexOf('}') + 1));
  expect(report, out).toMatchObject({ gaps: 0, dups: 0, 'streams closed before catching up': 0 });
  expect(report['storm event-loop delay max ms'], out).toMatch(/^\d+\.\d$/);
}, 120_000);

it('cpu prints server CPU per report for the batched and per-update paths', async () => {
  const { code, out } = await run('cpu.mjs', ['--reports', '40', '--tasks', '5', '--batch', '5', '--concurrency', '2', '--rounds', '1']);
  expect(code, out).toBe(0);
  expect(out).toMatch(/this +batched +[\d.]+ µs\n/);
  expect(out).toMatch(/this +per-update +[\d.]+ µs\n/);
}, 120_000);
