/**
 * The ETA as it was before issue 11 (commit 489770e), kept verbatim so bench/eta.ts can show
 * before and after on the same traces. Not used by the server.
 */
import type { Eta } from '@taskpulse/protocol';
import type { StageRun, TaskRecord } from '../packages/server/src/store/store.ts';

/** The stage key under which whole-attempt durations of completed tasks are recorded. */
export const WHOLE_TASK = '*';
/** The stage key under which the wait from creation to first claim is recorded. */
export const QUEUE_WAIT = '~queue';

export interface StageStats {
  count: number;
  medianMs: number;
  p90Ms: number;
  /** Median `total` of the runs that reported one, to scale by size. */
  medianSize: number | null;
}

export type TypeHistory = ReadonlyMap<string, StageStats>;

export function summarize(runs: readonly StageRun[]): Map<string, StageStats> {
  const byStage = new Map<string, StageRun[]>();
  for (const r of runs) {
    const list = byStage.get(r.stage) ?? [];
    list.push(r);
    byStage.set(r.stage, list);
  }
  const out = new Map<string, StageStats>();
  for (const [stage, list] of byStage) {
    const durations = list.map((r) => r.durationMs).sort((a, b) => a - b);
    const sizes = list.map((r) => r.size).filter((s): s is number => s !== null && s > 0).sort((a, b) => a - b);
    out.set(stage, {
      count: list.length,
      medianMs: quantile(durations, 0.5),
      p90Ms: quantile(durations, 0.9),
      medianSize: sizes.length > 0 ? quantile(sizes, 0.5) : null,
    });
  }
  return out;
}

export function quantile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return 0;
  const pos = (sorted.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return sorted[lo]! + (sorted[hi]! - sorted[lo]!) * (pos - lo);
}

const NONE: Eta = Object.freeze({ remainingMs: null, lowMs: null, highMs: null, at: null, basis: 'none' });

/** The ETA of a running task; `null` for a task that is not running. */
export function estimate(task: TaskRecord, history: TypeHistory, nowMs: number): Eta | null {
  if (task.status !== 'running') return null;
  const hasStages = task.stages.length > 0;
  const stageKey = hasStages && task.stageIndex >= 0 ? task.stages[task.stageIndex]!.key : WHOLE_TASK;
  // stageStartedAtMs is the current stage's start, or the attempt's start for a task without stages.
  const elapsedMs = Math.max(0, nowMs - (task.stageStartedAtMs ?? nowMs));

  // The current stage (or whole task): its own pace, history scaled by size, or both.
  const stats = history.get(stageKey);
  const fraction = task.done !== null && task.total ? task.done / task.total : null;
  const rateMs = fraction !== null && fraction > 0 ? (elapsedMs / fraction) * (1 - fraction) : null;
  let historyMs: number | null = null;
  let spread = 1.5;
  if (stats && stats.count >= 3) {
    const scale = stats.medianSize && task.total ? task.total / stats.medianSize : 1;
    historyMs = Math.max(0, stats.medianMs * scale - elapsedMs);
    spread = stats.medianMs > 0 ? Math.max(1.1, stats.p90Ms / stats.medianMs) : 1.5;
  }
  let currentMs: number | null;
  let basis: Eta['basis'];
  if (rateMs !== null && historyMs !== null) {
    currentMs = fraction! * rateMs + (1 - fraction!) * historyMs;
    basis = 'blend';
  } else if (rateMs !== null) {
    currentMs = rateMs;
    basis = 'rate';
  } else if (historyMs !== null) {
    currentMs = historyMs;
    basis = 'history';
  } else {
    currentMs = null;
    basis = 'none';
  }

  // Later stages: their history medians, or the current pace spread over their weights.
  let laterMs = 0;
  if (hasStages) {
    const current = task.stages[task.stageIndex];
    for (let i = task.stageIndex + 1; i < task.stages.length; i++) {
      const s = task.stages[i]!;
      const st = history.get(s.key);
      if (st && st.count >= 3) laterMs += st.medianMs;
      else if (currentMs !== null && current && fraction !== null && fraction > 0) {
        laterMs += (elapsedMs / fraction) * (s.weight / current.weight);
        if (basis === 'history') basis = 'blend';
      } else return currentMs === null ? NONE : finish(currentMs + laterMs, spread, basis, nowMs, true);
    }
  }
  if (currentMs === null) return NONE;
  return finish(currentMs + laterMs, spread, basis, nowMs, false);
}

function finish(remainingMs: number, spread: number, basis: Eta['basis'], nowMs: number, partial: boolean): Eta {
  const r = Math.round(remainingMs);
  // Rate-only estimates early in a run swing a lot: widen the band; history gives its own spread.
  const high = Math.round(r * (basis === 'rate' ? Math.max(spread, 1.5) : spread) * (partial ? 1.5 : 1));
  return { remainingMs: r, lowMs: Math.round(r * 0.75), highMs: high, at: new Date(nowMs + r).toISOString(), basis };
}

