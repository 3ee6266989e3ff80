/**
 * History for the dashboard's stats page, computed from the store (so it survives restarts):
 * throughput per minute, failures grouped by code and message, and per type and stage the
 * distribution of durations (median, p90 and a histogram). Pure: rows in, report out.
 */
import type { Distribution, FailureGroup, HistoryReport as History, ThroughputBucket } from '@taskpulse/protocol';
import type { FinishedTask, StageRun } from '../store/store.ts';
import { QUEUE_WAIT, WHOLE_TASK, quantile } from '../eta/eta.ts';

/** Upper bounds of the duration histogram, in ms: roughly ×2.5 steps from 100 ms to 1 h. */
export const HISTOGRAM_BOUNDS_MS = Object.freeze([100, 250, 500, 1000, 2500, 5000, 10_000, 30_000, 60_000, 300_000, 900_000, 3_600_000]);

export function computeHistory(
  finished: readonly FinishedTask[],
  runs: readonly StageRun[],
  o: { nowMs: number; windowMs: number; bucketMs: number },
): History {
  const start = Math.floor((o.nowMs - o.windowMs) / o.bucketMs) * o.bucketMs;
  const n = Math.ceil((o.nowMs - start) / o.bucketMs);
  const throughput: ThroughputBucket[] = Array.from({ length: n }, (_, i) => ({
    at: new Date(start + i * o.bucketMs).toISOString(), completed: 0, failed: 0, canceled: 0,
  }));
  const groups = new Map<string, FailureGroup>();
  for (const f of finished) {
    const i = Math.floor((Date.parse(f.endedAt) - start) / o.bucketMs);
    if (i >= 0 && i < n) throughput[i]![f.status] += 1;
    if (f.status !== 'failed') continue;
    const code = f.errorCode ?? 'error';
    const message = f.errorMessage ?? '';
    const key = JSON.stringify([code, message, f.type]);
    const g = groups.get(key);
    if (g) {
      g.count += 1;
      if (f.endedAt > g.lastAt) g.lastAt = f.endedAt;
    } else groups.set(key, { code, message, type: f.type, count: 1, lastAt: f.endedAt });
  }
  const failures = [...groups.values()].sort((a, b) => b.count - a.count || (a.lastAt < b.lastAt ? 1 : -1)).slice(0, 50);

  const byStage = new Map<string, { type: string; stage: string; d: number[] }>();
  for (const r of runs) {
    const key = `${r.type}\u0000${r.stage}`;
    let e = byStage.get(key);
    if (!e) byStage.set(key, (e = { type: r.type, stage: r.stage, d: [] }));
    e.d.push(r.durationMs);
  }
  const order = (s: string) => (s === QUEUE_WAIT ? 0 : s === WHOLE_TASK ? 2 : 1);
  const distributions = [...byStage.values()]
    .map(({ type, stage, d }) => {
      d.sort((a, b) => a - b);
      return { type, stage, count: d.length, medianMs: Math.round(quantile(d, 0.5)), p90Ms: Math.round(quantile(d, 0.9)), histogram: histogram(d) };
    })
    .sort((a, b) => (a.type < b.type ? -1 : a.type > b.type ? 1 : order(a.stage) - order(b.stage)));
  return { windowMs: o.windowMs, bucketMs: o.bucketMs, throughput, failures, distributions };
}

/** Counts of sorted durations per bucket of {@link HISTOGRAM_BOUNDS_MS}, trimmed of empty tails. */
function histogram(sorted: readonly number[]): Distribution['histogram'] {
  const out: Distribution['histogram'] = [...HISTOGRAM_BOUNDS_MS.map((leMs) => ({ leMs: leMs as number | null, count: 0 })), { leMs: null, count: 0 }];
  let b = 0;
  for (const ms of sorted) {
    while (b < HISTOGRAM_BOUNDS_MS.length && ms > HISTOGRAM_BOUNDS_MS[b]!) b++;
    out[b]!.count += 1;
  }
  let first = out.findIndex((x) => x.count > 0);
  let last = out.length - 1 - [...out].reverse().findIndex((x) => x.count > 0);
  if (first < 0) return [];
  first = Math.max(0, first - 1);
  last = Math.min(out.length - 1, last + 1);
  return out.slice(first, last + 1);
}
