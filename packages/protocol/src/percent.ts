/**
 * Percent arithmetic shared by the server (which stores it) and the clients (which may
 * interpolate). Pure: no I/O, no clock.
 */

export interface PercentInput {
  /** Stage weights in declared order; empty when the task declares no stages. */
  weights: readonly number[];
  /** Index of the current stage, or -1 when no stage has started. */
  stageIndex: number;
  /** Stages before `stageIndex` that are finished count fully; this says how many are finished in all. */
  done: number | null;
  total: number | null;
}

/**
 * The whole task's percentage, 0–100, or `null` when nothing is known.
 *
 * Without stages it is `done / total`. With stages, every stage before the current one counts
 * with its full weight and the current one with `weight × done / total` (0 while its size is
 * unknown).
 */
export function computePercent({ weights, stageIndex, done, total }: PercentInput): number | null {
  const fraction = total !== null && total > 0 && done !== null ? Math.min(1, Math.max(0, done / total)) : null;
  if (weights.length === 0) return fraction === null ? null : round(fraction * 100);
  if (stageIndex < 0) return fraction === null ? null : 0;
  const sum = weights.reduce((a, b) => a + b, 0);
  if (sum <= 0) return null;
  let finished = 0;
  for (let i = 0; i < stageIndex && i < weights.length; i++) finished += weights[i]!;
  const current = (weights[stageIndex] ?? 0) * (fraction ?? 0);
  return round(Math.min(100, ((finished + current) / sum) * 100));
}

/** Percent never goes backwards within an attempt. */
export function monotonicPercent(previous: number | null, next: number | null): number | null {
  if (next === null) return previous;
  if (previous === null) return next;
  return Math.max(previous, next);
}

/** Percent of a parent derived from its children: finished children over all children. */
export function childrenPercent(children: { total: number; completed: number; failed: number; canceled: number }): number | null {
  if (children.total === 0) return null;
  return round(((children.completed + children.failed + children.canceled) / children.total) * 100);
}

function round(n: number): number {
  return Math.round(n * 100) / 100;
}
