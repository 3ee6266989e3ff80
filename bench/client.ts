/**
 * Client SDK benchmark: `npx tsx --conditions=@taskpulse/source bench/client.ts` (add `--quick` for a shorter healthy window).
 *
 * 1. Healthy: report → visible in the client, p50/p99 (the worker's POST, the server's durable
 *    write, the stream, the client's parse and view update).
 * 2. Worst staleness under a single push failure: the stream is stalled by a proxy (socket open,
 *    nothing forwarded) or cut, while a worker reports every 100 ms; staleness of a report is
 *    the time from its POST to the client showing it. Run with heartbeats of 5 s (server default)
 *    and 1 s.
 * 3. Polling cost when healthy: reads of `/v1/events` per 30 s while live with a running task.
 * 4. Bundle: packages/client, minified and gzipped with esbuild.
 *
 * The server runs in a child process so its event loop does not share the client's.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { measureClientBundle } from '../packages/client/scripts/bundle-size.ts';
import { createClient, type TaskPulseClient } from '../packages/client/src/index.ts';
import { adminApi, ADMIN, startStallingProxy } from '../packages/client/test/support/real-server.ts';

const QUICK = process.argv.includes('--quick');
const root = new URL('..', import.meta.url).pathname;

async function startServerProcess(heartbeatMs: number): Promise<{ url: string; child: ChildProcess; dir: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'taskpulse-bench-'));
  const code = `
    import { startServer } from '@taskpulse/server';
    const s = await startServer({ port: 0, db: ${JSON.stringify(join(dir, 'bench.db'))}, adminKey: ${JSON.stringify(ADMIN)}, heartbeatMs: ${heartbeatMs}, logLevel: 'silent' });
    console.log(JSON.stringify({ url: s.url }));
    process.on('SIGTERM', async () => { await s.close(); process.exit(0); });`;
  const child = spawn(process.execPath, ['--conditions=@taskpulse/source', '--import', 'tsx', '--input-type=module', '-e', code], { cwd: root, stdio: ['ignore', 'pipe', 'inherit'] });
  const url = await new Promise<string>((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const line = out.split('\n').find((l) => l.startsWith('{'));
      if (line) resolve((JSON.parse(line) as { url: string }).url);
    });
    child.on('exit', (c) => reject(new Error(`server exited ${c}`)));
  });
  return { url, child, dir };
}

async function stopServerProcess(s: { child: ChildProcess; dir: string }): Promise<void> {
  const exited = new Promise((r) => s.child.once('exit', r));
  s.child.kill('SIGTERM');
  await exited;
  rmSync(s.dir, { recursive: true, force: true });
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

/** Resolves when the view shows `done ≥ value`. */
function visible(c: TaskPulseClient, id: string, value: number): Promise<number> {
  const view = c.watchTask(id);
  return new Promise((resolve) => {
    const check = () => {
      if ((view.getSnapshot().task?.progress.done ?? -1) >= value) {
        view.close();
        resolve(performance.now());
        return true;
      }
      return false;
    };
    if (!check()) view.subscribe(() => void check());
  });
}

async function waitState(c: TaskPulseClient, state: string, timeoutMs = 60_000): Promise<void> {
  if (c.connection.state === state) return;
  await new Promise<void>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`not ${state} after ${timeoutMs} ms`)), timeoutMs);
    const off = c.connection.subscribe((ch) => {
      if (ch.current === state) {
        clearTimeout(t);
        off();
        resolve();
      }
    });
  });
}

async function healthyLatency(): Promise<{ p50: number; p99: number; max: number; n: number; pollsPer30s: number; windowS: number }> {
  const s = await startServerProcess(5000);
  try {
    const api = adminApi(() => s.url);
    const task = await api.start('bench');
    const c = createClient({ url: s.url, token: await api.token('bench'), multiTab: false, metricsIntervalMs: 0 });
    await waitState(c, 'live');
    const n = QUICK ? 200 : 500;
    const latencies: number[] = [];
    for (let i = 1; i <= n; i++) {
      const seen = visible(c, task.id, i);
      const t0 = performance.now();
      await api.progress(task, i, 1_000_000);
      latencies.push((await seen) - t0);
    }
    latencies.sort((a, b) => a - b);
    // Polling cost: stay live with the task running; a report every 2 s.
    const before = c.diagnostics().requests;
    const windowMs = QUICK ? 35_000 : 95_000;
    const start = performance.now();
    let i = n;
    while (performance.now() - start < windowMs) {
      await api.progress(task, ++i, 1_000_000);
      await new Promise((r) => setTimeout(r, 2000));
    }
    const after = c.diagnostics().requests;
    const reads = after.polls - before.polls + (after.catchUps - before.catchUps);
    const elapsed = performance.now() - start;
    await c.close();
    return {
      p50: percentile(latencies, 50),
      p99: percentile(latencies, 99),
      max: latencies.at(-1)!,
      n,
      pollsPer30s: (reads / elapsed) * 30_000,
      windowS: elapsed / 1000,
    };
  } finally {
    await stopServerProcess(s);
  }
}

async function stalenessUnderFailure(heartbeatMs: number, failure: 'stall' | 'cut'): Promise<{ worstMs: number; clientWorstMs: number; stateAfter: string; learnedHeartbeatMs: number }> {
  const s = await startServerProcess(heartbeatMs);
  const proxy = await startStallingProxy(s.url);
  try {
    const api = adminApi(() => s.url);
    const task = await api.start('bench');
    // The client keeps its default heartbeatMs (5 s): it learns the server's interval on the stream.
    const c = createClient({ url: proxy.url, token: await api.token('bench'), multiTab: false, metricsIntervalMs: 0 });
    await waitState(c, 'live');
    const shown: Array<[number, number]> = [];
    const view = c.watchTask(task.id);
    view.subscribe((v) => shown.push([v.task?.progress.done ?? 0, performance.now()]));
    // Warm up live (long enough to measure two heartbeat gaps), then break push and keep
    // reporting every 100 ms.
    const warmUntil = performance.now() + 3 * heartbeatMs + 500;
    for (let i = 1; i <= 10 || performance.now() < warmUntil; i++) {
      await api.progress(task, i, 1_000_000);
      await new Promise((r) => setTimeout(r, 100));
    }
    const learned = c.diagnostics().heartbeatMs;
    if (failure === 'stall') proxy.stall(true);
    else proxy.killStreams();
    const sent: Array<[number, number]> = [];
    const first = (await c.getTask(task.id)).progress.done! + 1;
    const duration = 2 * 2 * heartbeatMs + 6000;
    const start = performance.now();
    for (let i = first; performance.now() - start < duration; i++) {
      const t0 = performance.now();
      await api.progress(task, i, 1_000_000);
      sent.push([i, t0]);
      await new Promise((r) => setTimeout(r, 100));
    }
    const last = sent.at(-1)![0];
    await visible(c, task.id, last);
    let worst = 0;
    for (const [value, t0] of sent) {
      const when = shown.find(([done]) => done >= value)?.[1] ?? performance.now();
      worst = Math.max(worst, when - t0);
    }
    const d = c.diagnostics();
    await c.close();
    return { worstMs: worst, clientWorstMs: d.delivery.worstStalenessMs, stateAfter: d.state, learnedHeartbeatMs: learned };
  } finally {
    await proxy.close();
    await stopServerProcess(s);
  }
}

function bundleSize(): Promise<{ minBytes: number; gzipBytes: number; hasZod: boolean }> {
  return measureClientBundle();
}

const fmt = (ms: number) => `${ms.toFixed(1)} ms`;
const bundle = await bundleSize();
console.log(`bundle: ${(bundle.minBytes / 1024).toFixed(1)} kB min, ${(bundle.gzipBytes / 1024).toFixed(1)} kB min+gzip (zod included: ${bundle.hasZod})`);
const healthy = await healthyLatency();
console.log(`healthy report → visible (n=${healthy.n}): p50 ${fmt(healthy.p50)}, p99 ${fmt(healthy.p99)}, max ${fmt(healthy.max)}`);
console.log(`healthy polling cost: ${healthy.pollsPer30s.toFixed(2)} reads of /v1/events per 30 s (window ${healthy.windowS.toFixed(0)} s)`);
for (const hb of [5000, 2000, 1000]) {
  for (const failure of ['stall', 'cut'] as const) {
    const r = await stalenessUnderFailure(hb, failure);
    console.log(
      `push failure '${failure}', server heartbeat ${hb} ms (client learned ${r.learnedHeartbeatMs} ms): worst staleness ${fmt(r.worstMs)} (client's own estimate ${r.clientWorstMs} ms), state afterwards ${r.stateAfter}`,
    );
  }
}
