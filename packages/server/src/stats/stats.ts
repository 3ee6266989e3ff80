/**
 * `/v1/stats`: per type and stage, how long things take and where users wait, with the
 * bottlenecks named in plain words. Pure: stage runs and task counts in, report out.
 */
import type { TaskStatus } from '@taskpulse/protocol';
import type { StageRun } from '../store/store.ts';
import { QUEUE_WAIT, WHOLE_TASK, quantile } from '../eta/eta.ts';

export interface StageStat {
  stage: string;
  count: number;
  medianMs: number;
  p90Ms: number;
  /** This stage's share of a typical run (its median over the sum of stage medians). */
  share: number | null;
}

export interface TypeStats {
  type: string;
  count: number;
  medianMs: number | null;
  p90Ms: number | null;
  throughputPerMin: number;
  queued: number;
  running: number;
  completed: number;
  failed: number;
  canceled: number;
  queueWait: { medianMs: number; p90Ms: number } | null;
  stages: StageStat[];
}

export interface Bottleneck {
  type: string;
  stage: string | null;
  kind: 'stage' | 'queue' | 'variance';
  share: number | null;
  recommendation: string;
}

export function computeStats(
  runs: readonly StageRun[],
  counts: readonly { type: string; status: TaskStatus; count: number }[],
  windowMs: number,
): { windowMs: number; types: TypeStats[]; bottlenecks: Bottleneck[] } {
  const types = new Set([...runs.map((r) => r.type), ...counts.map((c) => c.type)]);
  const out: TypeStats[] = [];
  const bottlenecks: Bottleneck[] = [];
  for (const type of [...types].sort()) {
    const mine = runs.filter((r) => r.type === type);
    const by = (stage: string) => mine.filter((r) => r.stage === stage).map((r) => r.durationMs).sort((a, b) => a - b);
    const whole = by(WHOLE_TASK);
    const wait = by(QUEUE_WAIT);
    const stageKeys = [...new Set(mine.map((r) => r.stage))].filter((k) => k !== WHOLE_TASK && k !== QUEUE_WAIT);
    const stages: StageStat[] = stageKeys.map((stage) => {
      const d = by(stage);
      return { stage, count: d.length, medianMs: Math.round(quantile(d, 0.5)), p90Ms: Math.round(quantile(d, 0.9)), share: null };
    });
    const sum = stages.reduce((a, s) => a + s.medianMs, 0);
    for (const s of stages) s.share = sum > 0 ? round(s.medianMs / sum) : null;
    stages.sort((a, b) => b.medianMs - a.medianMs);
    const count = (status: TaskStatus) => counts.find((c) => c.type === type && c.status === status)?.count ?? 0;
    const t: TypeStats = {
      type,
      count: whole.length,
      medianMs: whole.length ? Math.round(quantile(whole, 0.5)) : null,
      p90Ms: whole.length ? Math.round(quantile(whole, 0.9)) : null,
      throughputPerMin: round((whole.length / windowMs) * 60_000),
      queued: count('queued'),
      running: count('running'),
      completed: count('completed'),
      failed: count('failed'),
      canceled: count('canceled'),
      queueWait: wait.length ? { medianMs: Math.round(quantile(wait, 0.5)), p90Ms: Math.round(quantile(wait, 0.9)) } : null,
      stages,
    };
    out.push(t);

    const top = stages[0];
    if (top && top.share !== null && top.share >= 0.5 && stages.length > 1) {
      bottlenecks.push({
        type, stage: top.stage, kind: 'stage', share: top.share,
        recommendation: `"${top.stage}" takes ${pct(top.share)} of a typical ${type} run (median ${secs(top.medianMs)}, p90 ${secs(top.p90Ms)}): speed it up, parallelise it or split it — it is where users wait.`,
      });
    }
    const runMs = t.medianMs ?? sum;
    if (t.queueWait && runMs > 0 && t.queueWait.medianMs > 0.5 * runMs) {
      bottlenecks.push({
        type, stage: null, kind: 'queue', share: round(t.queueWait.medianMs / (t.queueWait.medianMs + runMs)),
        recommendation: `${type} tasks wait ${secs(t.queueWait.medianMs)} (median) for a worker before a ${secs(runMs)} run: add workers or raise their concurrency for "${type}"${t.queued > 0 ? ` (${t.queued} queued now)` : ''}.`,
      });
    }
    for (const s of stages) {
      if (s.count >= 5 && s.medianMs > 0 && s.p90Ms > 3 * s.medianMs) {
        bottlenecks.push({
          type, stage: s.stage, kind: 'variance', share: s.share,
          recommendation: `"${s.stage}" is unpredictable: its p90 (${secs(s.p90Ms)}) is ${Math.round(s.p90Ms / s.medianMs)}× its median — look for slow inputs or a dependency with long tail latency; ETAs for this stage are wide.`,
        });
      }
    }
  }
  bottlenecks.sort((a, b) => (b.share ?? 0) - (a.share ?? 0));
  return { windowMs, types: out, bottlenecks };
}

const round = (n: number) => Math.round(n * 1000) / 1000;
const pct = (n: number) => `${Math.round(n * 100)}%`;
function secs(ms: number): string {
  return ms >= 60_000 ? `${(ms / 60_000).toFixed(1)} min` : ms >= 1000 ? `${(ms / 1000).toFixed(1)} s` : `${ms} ms`;
}
