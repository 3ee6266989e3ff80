/**
 * `/v1/stats`: per type and stage, how long things take and where users wait, with the
 * bottlenecks named in plain words. Pure: stage runs and task counts in, report out.
 */
import type { Bottleneck, EtaAccuracy, StageStat, TaskStatus, TypeStats } from '@taskpulse/protocol';

import type { EtaCheck, StageRun } from '../store/store.ts';
import { QUEUE_WAIT, WHOLE_TASK, quantile } from '../eta/eta.ts';

// The report shapes live in protocol (reports.ts): the server builds them, the dashboard reads them.
export type { Bottleneck, EtaAccuracy, StageStat, TypeStats } from '@taskpulse/protocol';

export function computeStats(
  runs: readonly StageRun[],
  counts: readonly { type: string; status: TaskStatus; count: number }[],
  windowMs: number,
  etaChecks: readonly EtaCheck[] = [],
): { windowMs: number; types: TypeStats[]; bottlenecks: Bottleneck[] } {
  const types = new Set([...runs.map((r) => r.type), ...counts.map((c) => c.type), ...etaChecks.map((c) => c.type)]);
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
      eta: etaAccuracy(etaChecks.filter((c) => c.type === type)),
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

/** The observed accuracy of one type's ETA from its scores. */
export function etaAccuracy(checks: readonly EtaCheck[]): EtaAccuracy | null {
  if (checks.length === 0) return null;
  const summary = (list: readonly EtaCheck[]) => {
    const errors = list.flatMap((c) => (c.error === null ? [] : [c.error])).sort((a, b) => a - b);
    const banded = list.filter((c) => c.inside !== null);
    const widths = list.flatMap((c) => (c.width === null ? [] : [c.width])).sort((a, b) => a - b);
    return {
      count: list.length,
      medianError: errors.length ? round(quantile(errors, 0.5)) : null,
      p90Error: errors.length ? round(quantile(errors, 0.9)) : null,
      bandCoverage: banded.length ? round(banded.filter((c) => c.inside).length / banded.length) : null,
      bandWidth: widths.length ? round(quantile(widths, 0.5)) : null,
      noEta: round(list.filter((c) => c.error === null).length / list.length),
    };
  };
  const all = summary(checks);
  const checkpoints = [...new Set(checks.map((c) => c.checkpoint))].sort((a, b) => a - b).map((at) => {
    const { bandWidth: _, ...s } = summary(checks.filter((c) => c.checkpoint === at));
    return { at, ...s };
  });
  return {
    // Every scored task has a score (or a "no ETA") at each checkpoint it lived through.
    tasks: Math.max(...checkpoints.map((c) => c.count)),
    medianErrorAt50: checkpoints.find((c) => c.at === 50)?.medianError ?? null,
    bandCoverage: all.bandCoverage,
    bandWidth: all.bandWidth,
    noEta: all.noEta,
    checkpoints,
  };
}

const round = (n: number) => Math.round(n * 1000) / 1000;
const pct = (n: number) => `${Math.round(n * 100)}%`;
function secs(ms: number): string {
  return ms >= 60_000 ? `${(ms / 60_000).toFixed(1)} min` : ms >= 1000 ? `${(ms / 1000).toFixed(1)} s` : `${ms} ms`;
}
