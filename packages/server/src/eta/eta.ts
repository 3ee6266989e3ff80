/**
 * ETA and health arithmetic. Pure: history statistics in, estimate out. All times are the
 * server's clock (a client never trusts its own for durations).
 *
 * The model (docs/server.md, "How the ETA works"): a stage's duration is log-normal; its recent
 * runs (weights halving every {@link HALF_LIFE_RUNS} runs, so drift is followed) give a median
 * and a robust spread, per unit of `total` when the durations grow with it. The running stage is
 * estimated twice — from its own pace (`done/total` over the time it has run) and from history
 * given how long it has already run — and the two are combined by how much each can be trusted
 * (inverse variance in log space: early on history wins, later the pace does). Later stages add
 * their history, scaled by how fast this task ran its earlier stages. The band is the 86 %
 * interval of the resulting distribution and the point a little under its median
 * ({@link pointEstimate}); when it is wild ({@link WILD_RATIO}) the ETA says nothing rather
 * than something wild.
 */
import type { Eta, Health } from '@taskpulse/protocol';
import type { StageRun, TaskRecord } from '../store/store.ts';
import { iso } from '../tasks/iso.ts';
import { normalCdf, normalQuantile, robustSigma, successiveSigma, weightedQuantile } from './lognormal.ts';

/** The stage key under which whole-attempt durations of completed tasks are recorded. */
export const WHOLE_TASK = '*';
/** The stage key under which the wait from creation to first claim is recorded. */
export const QUEUE_WAIT = '~queue';

/** A run's weight halves every this many newer runs of the same stage. */
export const HALF_LIFE_RUNS = 8;
/** The mean (queue waits) needs more runs than the median: a 10× outlier weighs in it. */
const MEAN_HALF_LIFE_RUNS = 32;
/** Runs per stage that still count (older ones weigh < 2^-25). */
const MAX_RUNS = 200;
/**
 * The band is the central 86 % interval of the model (z of the 93rd percentile): at 92 %
 * bench/eta.ts saw the truth inside 89–94 % of the time, at 88 % 85–91 %; 80–90 % is the aim.
 */
const BAND_Z = normalQuantile(0.93);
/**
 * "Wild", and so no ETA: the band spans more than this factor (the truth could be 3× off
 * either way) and more than {@link WILD_SPAN_MS} (a band of 0.5–6 s near the end is no harm).
 */
export const WILD_RATIO = 9;
export const WILD_SPAN_MS = 30_000;
/** Spread assumed for a stage seen fewer than {@link MIN_TRUSTED} times (ln units, ≈ ×1.65). */
const COLD_SIGMA = 0.5;
const MIN_TRUSTED = 5;
/** Spread assumed for a stage never run before, extrapolated from this task's pace per weight. */
const UNKNOWN_SIGMA = 0.7;
/** Coefficient of variation of one item's time (items are uneven: bursts and pauses; ~0.9 in bench/eta.ts). */
const RATE_NOISE = 0.9;
/** How much one task's stages tend to run slow or fast together (ln units), before evidence. */
const PACE_PRIOR_SIGMA = 0.2;
/**
 * z above which a stage is `slow`. A normal tail would flag one healthy run in 30,000, but the
 * spread is estimated from ~25 recent runs and the tails of real durations are heavier: in
 * bench/eta.ts this keeps false alarms under 1 in 1,000 tasks.
 */
const SLOW_Z = 4;
const SLOW_MIN_RUNS = 20;
/** Standard errors of the pace's projection that must clear the `slow` limit (it is re-read at every report). */
const SLOW_PACE_Z = 2;

/**
 * How far the published band reaches below and above the model's median, in units of the
 * model's own log half-width (BAND_Z σ): 1 and 1 is the model's 86 % interval. Calibration on
 * the type's finished tasks (eta/calibration.ts, {@link bandScale}) widens a side where the
 * truth fell outside more often than the target; never narrower than the model's own band.
 */
export interface BandScale {
  low: number;
  high: number;
}
export const MODEL_BAND: Readonly<BandScale> = Object.freeze({ low: 1, high: 1 });

/** A log-normal duration: ln(ms) ~ N(mu, sigma²). */
export interface LogNormal {
  mu: number;
  sigma: number;
}

export interface StageStats {
  count: number;
  /** Recency-weighted median and p90 of the duration (ms), whatever the size. */
  medianMs: number;
  p90Ms: number;
  /**
   * Mean duration (ms), outliers included, weights halving every {@link MEAN_HALF_LIFE_RUNS}
   * runs: what runs add up to (queue waits).
   */
  meanMs: number;
  /** Median `total` of the runs that reported one. */
  medianSize: number | null;
  /** The duration, whatever the size (sigma already widened for few runs). */
  whole: LogNormal;
  /** The duration per unit of `total`, when the durations of this stage grow with it; else null. */
  perUnit: LogNormal | null;
}

export type TypeHistory = ReadonlyMap<string, StageStats>;

/** Statistics per stage of one type's runs (any order; the newest weigh most). */
export function summarize(runs: readonly StageRun[]): Map<string, StageStats> {
  const byStage = new Map<string, StageRun[]>();
  for (const r of runs) {
    const list = byStage.get(r.stage);
    if (list) list.push(r);
    else byStage.set(r.stage, [r]);
  }
  const out = new Map<string, StageStats>();
  for (const [stage, all] of byStage) {
    const list = all.sort((a, b) => b.endedAtMs - a.endedAtMs).slice(0, MAX_RUNS);
    const weights = list.map((_, i) => 0.5 ** (i / HALF_LIFE_RUNS));
    const durations = list.map((r) => Math.max(1, r.durationMs));
    const whole = fit(durations.map(Math.log), weights);
    const sized = list.flatMap((r, i) => (r.size !== null && r.size > 0 ? [i] : []));
    let perUnit: LogNormal | null = null;
    if (sized.length >= MIN_TRUSTED) {
      const w = sized.map((i) => weights[i]!);
      const logSize = sized.map((i) => Math.log(list[i]!.size!));
      const logUnit = sized.map((i, k) => Math.log(durations[i]!) - logSize[k]!);
      // Scale by size only where it explains the spread: sizes that vary, and a tighter fit per
      // unit. Whether a stage scales is a trait of the stage: judged on all its runs alike.
      const even = sized.map(() => 1);
      const spread = (xs: number[]) => robustSigma(xs, even, weightedQuantile(xs, even, 0.5));
      const sizesVary = spread(logSize) > 0.1;
      if (sizesVary && spread(logUnit) < 0.9 * spread(sized.map((i) => Math.log(durations[i]!)))) perUnit = fit(logUnit, w);
    }
    const sizes = list.filter((r) => r.size !== null && r.size > 0).map((r) => r.size!);
    out.set(stage, {
      count: list.length,
      medianMs: weightedQuantile(durations, weights, 0.5),
      p90Ms: weightedQuantile(durations, weights, 0.9),
      meanMs: weightedMean(durations, MEAN_HALF_LIFE_RUNS),
      medianSize: sizes.length > 0 ? weightedQuantile(sizes, sizes.map(() => 1), 0.5) : null,
      whole,
      perUnit,
    });
  }
  return out;
}

/** Mean of `values` (newest first), weights halving every `halfLife` values. */
function weightedMean(values: readonly number[], halfLife: number): number {
  let sum = 0;
  let total = 0;
  for (let i = 0; i < values.length; i++) {
    const w = 0.5 ** (i / halfLife);
    sum += w * values[i]!;
    total += w;
  }
  return total > 0 ? sum / total : 0;
}

function fit(logs: readonly number[], weights: readonly number[]): LogNormal {
  const mu = weightedQuantile(logs, weights, 0.5);
  const n = logs.length;
  // The recent runs place the median (drift is followed); the spread of ~25 recent runs is too
  // noisy alone (it came out at half the truth in bench/eta.ts), and the spread of all kept runs
  // around today's median counts a drift as noise (a 30 % slowdown tripled a σ of 0.1): the
  // spread comes from successive differences of all kept runs (newest first), which neither moves.
  const sigma = n >= 2 * MIN_TRUSTED ? successiveSigma(logs) : Math.max(robustSigma(logs, weights, mu), robustSigma(logs, logs.map(() => 1), mu));
  // Few runs say little about the spread; the median itself is uncertain by ~sigma/√n.
  const widened = n < MIN_TRUSTED ? Math.max(sigma, COLD_SIGMA) : Math.max(sigma, 0.05) * Math.sqrt(1 + 1 / Math.min(n, 3 * HALF_LIFE_RUNS));
  return { mu, sigma: widened };
}

export function quantile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return 0;
  const pos = (sorted.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return sorted[lo]! + (sorted[hi]! - sorted[lo]!) * (pos - lo);
}

/** The expected duration of a stage run of `size` (null: unknown), from its history. */
export function stageModel(stats: StageStats | undefined, size: number | null): LogNormal | null {
  if (!stats) return null;
  if (stats.perUnit && size !== null && size > 0) return { mu: stats.perUnit.mu + Math.log(size), sigma: stats.perUnit.sigma };
  return stats.whole;
}

const NONE: Eta = Object.freeze({ remainingMs: null, lowMs: null, highMs: null, at: null, basis: 'none' });

/** A remaining time as mean and variance (ms, ms²), so independent parts add up. */
interface Part {
  mean: number;
  variance: number;
}
const fromLog = (median: number, sigma: number): Part => {
  const s2 = sigma * sigma;
  const mean = median * Math.exp(s2 / 2);
  return { mean, variance: mean * mean * (Math.exp(s2) - 1) };
};

/** What of a task its ETA reads. */
export type EtaTask = Pick<TaskRecord, 'status' | 'stages' | 'stageIndex' | 'stageStartedAtMs' | 'done' | 'total' | 'lastMoveAtMs' | 'attemptStartedAtMs'>;

/**
 * The ETA of a running task; `null` for a task that is not running. `band` widens the band as
 * the type's calibration says (the point is the same).
 */
export function estimate(task: EtaTask, history: TypeHistory, nowMs: number, band: Readonly<BandScale> = MODEL_BAND): Eta | null {
  if (task.status !== 'running') return null;
  const hasStages = task.stages.length > 0 && task.stageIndex >= 0;
  const current = hasStages ? task.stages[task.stageIndex]! : null;
  // stageStartedAtMs is the current stage's start, or the attempt's start for a task without stages.
  const elapsedMs = Math.max(0, nowMs - (task.stageStartedAtMs ?? nowMs));
  const fraction = task.done !== null && task.total ? Math.min(1, task.done / task.total) : null;
  const currentStats = history.get(current ? current.key : WHOLE_TASK);
  const model = stageModel(currentStats, task.total);

  // The running stage's own pace: as of the last report (`done` is that old), less the time
  // since — reports are coalesced and batched, and `elapsed / fraction` would count the
  // unreported work as not done.
  let fromRate: (LogNormal & { bandSigma: number }) | null = null;
  let projectedMs: number | null = null;
  if (fraction !== null && fraction > 0 && fraction < 1) {
    const items = Math.max(1, Math.min(task.total!, 50));
    const movedAtMs = Math.min(nowMs, Math.max(task.lastMoveAtMs ?? nowMs, task.stageStartedAtMs ?? nowMs));
    projectedMs = (movedAtMs - (task.stageStartedAtMs ?? movedAtMs)) / fraction;
    const paceMs = projectedMs * (1 - fraction);
    const ms = Math.max(1, paceMs - (nowMs - movedAtMs), 0.1 * paceMs);
    // How far to trust the pace against history: it is known from `done` items out of `total`.
    // The band is more careful: the rest is a sum of its own items, each as uneven as they come
    // (the last one may be the one with a pause), so few items left means a wide band.
    const left = Math.max(0.5, items * (1 - fraction));
    const seen = Math.max(0.5, items * fraction);
    fromRate = {
      mu: Math.log(ms),
      sigma: RATE_NOISE * Math.sqrt((1 - fraction) / (fraction * items)) + 0.03,
      bandSigma: RATE_NOISE * Math.sqrt(1 / left + 1 / seen) + 0.03,
    };
  }
  const pace = hasStages ? paceFactor(task, history, model && projectedMs ? { ratio: Math.log(projectedMs) - model.mu, weight: fraction! / model.sigma ** 2 } : null) : 0;
  // The running stage from history, given how long it has already run.
  const fromHistory = model ? conditionalRemaining({ mu: model.mu + pace, sigma: model.sigma }, elapsedMs) : null;
  let now: Part | null;
  let basis: Eta['basis'];
  /** The share of the running stage's estimate that history (not this task's pace) gave. */
  let historyShare = 0;
  if (fraction === 1) {
    now = { mean: 0, variance: 0 };
    basis = 'rate';
  } else if (fromRate && fromHistory) {
    const wr = 1 / fromRate.sigma ** 2;
    const wh = 1 / fromHistory.sigma ** 2;
    const band = Math.sqrt(wr * wr * fromRate.bandSigma ** 2 + wh * wh * fromHistory.sigma ** 2) / (wr + wh);
    now = fromLog(Math.exp((wr * fromRate.mu + wh * fromHistory.mu) / (wr + wh)), band);
    basis = 'blend';
    historyShare = wh / (wr + wh);
  } else if (fromRate) {
    now = fromLog(Math.exp(fromRate.mu), fromRate.bandSigma);
    basis = 'rate';
  } else if (fromHistory) {
    now = fromLog(Math.exp(fromHistory.mu), fromHistory.sigma);
    basis = 'history';
    historyShare = 1;
  } else {
    return NONE;
  }

  // Later stages: their history (sizes not known yet), as fast or slow as this task has been.
  let mean = now.mean;
  let variance = now.variance;
  // What history (and extrapolation) adds to the spread, for the point estimate (see pointEstimate).
  let historyVariance = historyShare * now.variance;
  if (hasStages) {
    for (let i = task.stageIndex + 1; i < task.stages.length; i++) {
      const s = task.stages[i]!;
      const m = laterModel(history.get(s.key), currentStats, task.total);
      let part: Part | null = m ? fromLog(Math.exp(m.mu + pace), m.sigma) : null;
      if (!part) {
        // Never run before: extrapolate this attempt's time per unit of weight.
        const perWeight = msPerWeight(task, nowMs, fraction, model);
        if (perWeight === null) return NONE;
        part = fromLog(perWeight * s.weight, UNKNOWN_SIGMA);
        if (basis === 'history') basis = 'blend';
      }
      mean += part.mean;
      variance += part.variance;
      historyVariance += part.variance;
    }
  }
  if (mean <= 0) return finish(0, 0, 0, basis, nowMs, band);
  // The sum as one log-normal (Fenton–Wilkinson): its median and spread give the band.
  const s2 = Math.log(1 + variance / (mean * mean));
  return finish(mean / Math.exp(s2 / 2), Math.sqrt(s2), Math.sqrt(Math.log(1 + historyVariance / (mean * mean))), basis, nowMs, band);
}

/**
 * A later stage's duration before its size is known. Sizes of one task's stages usually go
 * together (pages fetched, then parsed, then indexed), so a stage whose durations grow with its
 * size gets one in proportion to the running stage's: `total × its median size / ours`.
 */
function laterModel(stats: StageStats | undefined, current: StageStats | undefined, currentSize: number | null): LogNormal | null {
  if (stats?.perUnit && current?.perUnit && currentSize && stats.medianSize && current.medianSize) {
    return stageModel(stats, (currentSize * stats.medianSize) / current.medianSize);
  }
  return stageModel(stats, null);
}

/**
 * ln of how much slower (>0) or faster this attempt ran its finished stages (and, by its pace,
 * the running one) than their history. Each stage's evidence weighs 1/sigma² (a stage that
 * always varies a lot says little), shrunk towards "usual" by a prior spread of
 * {@link PACE_PRIOR_SIGMA}: one fast stage is weak evidence that the next one will be fast too.
 */
function paceFactor(task: EtaTask, history: TypeHistory, current: { ratio: number; weight: number } | null): number {
  let sum = current ? current.ratio * current.weight : 0;
  let n = current ? current.weight : 0;
  for (let i = 0; i < task.stageIndex; i++) {
    const s = task.stages[i]!;
    if (s.status !== 'completed' || !s.startedAt || !s.endedAt) continue;
    const stats = history.get(s.key);
    // A finished stage's size is not kept: one that grows with size would count the size as pace.
    if (!stats || stats.perUnit) continue;
    const m = stats.whole;
    const ms = Date.parse(s.endedAt) - Date.parse(s.startedAt);
    if (ms > 0) {
      sum += (Math.log(ms) - m.mu) / m.sigma ** 2;
      n += 1 / m.sigma ** 2;
    }
  }
  // Shrunk towards "usual": one fast stage is weak evidence that the next one will be fast too.
  return n === 0 ? 0 : Math.max(-1, Math.min(1, sum / (n + 1 / PACE_PRIOR_SIGMA ** 2)));
}

/** ms per unit of stage weight in this attempt so far, or null when nothing tells. */
function msPerWeight(task: EtaTask, nowMs: number, fraction: number | null, model: LogNormal | null): number | null {
  const current = task.stages[task.stageIndex]!;
  let doneWeight = 0;
  for (let i = 0; i < task.stageIndex; i++) if (task.stages[i]!.status === 'completed') doneWeight += task.stages[i]!.weight;
  if (fraction !== null && fraction > 0) doneWeight += fraction * current.weight;
  const started = task.attemptStartedAtMs ?? task.stageStartedAtMs;
  if (doneWeight > 0 && started != null && nowMs > started) return (nowMs - started) / doneWeight;
  if (model && current.weight > 0) return Math.exp(model.mu) / current.weight;
  return null;
}

/** The remaining time of a log-normal run that has already lasted `elapsedMs`, as a log-normal. */
function conditionalRemaining(d: LogNormal, elapsedMs: number): LogNormal {
  if (elapsedMs <= 0) return d;
  // Far past every run seen, the tail says little: treat it as the 99.9th percentile.
  const u0 = Math.min(0.999, normalCdf((Math.log(elapsedMs) - d.mu) / d.sigma));
  const at = (q: number) => Math.max(1, Math.exp(d.mu + d.sigma * normalQuantile(u0 + q * (1 - u0))) - elapsedMs);
  const median = at(0.5);
  const lo = at(0.16);
  const hi = at(0.84);
  return { mu: Math.log(median), sigma: Math.max(0.05, (Math.log(hi) - Math.log(lo)) / 2) };
}

/**
 * The published ETA of a remaining time ln(ms) ~ N(ln medianMs, sigma²). The band is the
 * model's central interval; the point is {@link pointEstimate}, not the median, for the part of
 * the spread (`historySigma` ≤ sigma) that comes from history rather than this task's own pace.
 */
function finish(medianMs: number, sigma: number, historySigma: number, basis: Eta['basis'], nowMs: number, band: Readonly<BandScale>): Eta {
  const below = Math.exp(BAND_Z * sigma * band.low);
  const above = Math.exp(BAND_Z * sigma * band.high);
  if (!Number.isFinite(medianMs) || !Number.isFinite(below) || !Number.isFinite(above)) return NONE;
  // Wild as shown: a band calibration widened past 9× is one the type's own tasks say is that wide.
  if (below * above > WILD_RATIO && medianMs * (above - 1 / below) > WILD_SPAN_MS) return NONE;
  const r = Math.round(pointEstimate(medianMs, historySigma));
  return { remainingMs: r, lowMs: Math.round(medianMs / below), highMs: Math.round(medianMs * above), at: iso(nowMs + r), basis };
}

/**
 * The point to publish for a log-normal remaining time, fitted to the error *as a share of the
 * true remaining time* — what a user feels, and what bench/eta.ts and `/v1/stats` score: median
 * / cosh(σ). `finish` passes σ of the part history gives (not the running stage's own pace,
 * which is a measurement).
 * A guess g is within k of the truth T when T lies in [g/(1+k), g/(1−k)], a range that reaches
 * further above g than below it (a guess can be 100 % short at most, but any amount long). The
 * guess whose range at k = tanh(σ) is exactly the middle ±1σ of T (ln T = ln median ± σ) is
 * median × √(1 − k²) = median / cosh(σ). With a narrow spread this is the median (σ = 0.2:
 * 2 % below it); it matters early in a run, when what is left is mostly stages not started yet:
 * at 10 % of the run, the median put the p90 error at 74 %, worse than linear extrapolation
 * (67 %); this, at 63 %, with the medians within a point (docs/benchmarks.md).
 */
export function pointEstimate(medianMs: number, sigma: number): number {
  return medianMs / Math.cosh(sigma);
}

export interface HealthConfig {
  /** Stuck when progress has not moved for this many times the usual gap between this type's reports. */
  stuckFactor: number;
  /** ...and for at least this long. */
  stuckMinMs: number;
  /** Before the type's usual gap is known, stuck after this long without progress. */
  stuckDefaultMs: number;
  /**
   * How often the server checks health deadlines (ms). `stuck` is told at the last check at or
   * before the limit — when the quiet would pass it before the next check — never one check
   * after it. 0: exactly past the limit.
   * @defaultValue 250
   */
  checkEveryMs?: number;
}

/**
 * Stuck after 3× the usual (p99) quiet of the type's stage, at least 3 s; 60 s while that is
 * not known yet (fewer than 30 moves seen); told at the last 250 ms check before that.
 */
export const DEFAULT_HEALTH: Readonly<HealthConfig> = Object.freeze({ stuckFactor: 3, stuckMinMs: 3000, stuckDefaultMs: 60_000, checkEveryMs: 250 });

/**
 * The quiet after which a task is told `stuck` at a check: the limit less one check interval,
 * so that the check that tells it comes at or before the limit (checks are `checkEveryMs`
 * apart; waiting for "past the limit" told it up to one interval late).
 */
function stuckAfterMs(cfg: HealthConfig, usualGapMs: number | null, pace: number): number {
  const limit = stuckLimitMs(cfg, usualGapMs, pace);
  return limit - Math.min(cfg.checkEveryMs ?? 0, limit / 2);
}

/**
 * How long progress may stay still before a task is `stuck`; `pace` (≥ 1) is how much slower
 * than its history this task runs the stage — its gaps are that much longer too.
 */
export function stuckLimitMs(cfg: HealthConfig, usualGapMs: number | null, pace = 1): number {
  return usualGapMs !== null ? Math.max(cfg.stuckMinMs, cfg.stuckFactor * usualGapMs * pace) : cfg.stuckDefaultMs;
}

/**
 * How much slower than its history the task runs its current stage, by its pace so far (1–2;
 * 1 until a fifth is done or with no history): a task slow throughout reports at longer gaps,
 * and measured against the type's usual gap alone it is the one healthy task flagged `stuck`.
 */
export function stagePace(task: TaskRecord, history: TypeHistory): number {
  const fraction = task.done !== null && task.total ? task.done / task.total : null;
  const since = task.stageStartedAtMs;
  if (fraction === null || fraction < 0.2 || since === null || task.lastMoveAtMs === null || task.lastMoveAtMs <= since) return 1;
  const key = task.stages.length > 0 && task.stageIndex >= 0 ? task.stages[task.stageIndex]!.key : WHOLE_TASK;
  const m = stageModel(history.get(key), task.total);
  if (!m) return 1;
  return Math.min(PACE_MAX, Math.max(1, (task.lastMoveAtMs - since) / fraction / Math.exp(m.mu)));
}
const PACE_MAX = 2;

/** Where the running stage stands against its healthy runs: null while they say too little. */
function slowLimit(task: TaskRecord, history: TypeHistory): { sinceMs: number; limitMs: number } | null {
  const key = task.stages.length > 0 && task.stageIndex >= 0 ? task.stages[task.stageIndex]!.key : WHOLE_TASK;
  const stats = history.get(key);
  const sinceMs = task.stageStartedAtMs ?? (task.startedAt ? Date.parse(task.startedAt) : null);
  // Five runs make an ETA, not a verdict: the spread of so few is too uncertain for "unusual".
  if (!stats || stats.count < SLOW_MIN_RUNS || sinceMs === null) return null;
  // The stage's own distribution, per unit of its `total` where its durations grow with it.
  const m = stageModel(stats, task.total)!;
  return { sinceMs, limitMs: Math.exp(m.mu + SLOW_Z * Math.max(0.1, m.sigma)) };
}

/**
 * `ok`; `slow` when the current stage has run longer than all but ~1 in 30,000 healthy runs of
 * it (e^(4σ) × its median, per unit of `total` where it scales) — or its own pace already says
 * it will, with {@link SLOW_PACE_Z} standard errors to spare; `stuck` when the worker heartbeats
 * but progress has not moved for `stuckFactor` × the usual gap between this type's reports in
 * this stage (`usualGapMs`, null while unknown) — or will not have by the next check.
 */
export function assessHealth(task: TaskRecord, history: TypeHistory, nowMs: number, cfg: HealthConfig, usualGapMs: number | null = null): Health | null {
  if (task.status !== 'running') return null;
  if (task.lastMoveAtMs !== null && nowMs - task.lastMoveAtMs > stuckAfterMs(cfg, usualGapMs, stagePace(task, history))) return 'stuck';
  const lim = slowLimit(task, history);
  if (!lim) return 'ok';
  if (nowMs - lim.sinceMs > lim.limitMs) return 'slow';
  // By its own pace: the stage's duration projected from `done/total` as of the last report,
  // uncertain as the items are uneven (few done or few left: a wide margin). A quarter done at least.
  const fraction = task.done !== null && task.total ? task.done / task.total : null;
  if (fraction !== null && fraction >= 0.25 && fraction < 1 && task.lastMoveAtMs !== null && task.lastMoveAtMs > lim.sinceMs) {
    const items = Math.max(1, Math.min(task.total!, 50));
    const projected = Math.log((task.lastMoveAtMs - lim.sinceMs) / fraction);
    const se = RATE_NOISE * Math.sqrt((1 - fraction) / (fraction * items)) + 0.03;
    if (projected - SLOW_PACE_Z * se > Math.log(lim.limitMs)) return 'slow';
  }
  return 'ok';
}

/** How long before a `stuck` deadline its limit is read again (see {@link healthDeadline}). */
const RECHECK_BEFORE_MS = 1000;

/**
 * The instant `health` would next change if no report came (the stage outlasting its healthy
 * runs, or progress staying still past the stuck limit), or null when nothing is pending. With
 * it the server re-assesses a task when that happens instead of scanning every task often.
 * Given `nowMs`, a `stuck` deadline more than a second away comes a second early, to be read
 * again with what is known then (the re-assessment arms the exact one).
 */
export function healthDeadline(task: TaskRecord, history: TypeHistory, cfg: HealthConfig, usualGapMs: number | null = null, nowMs?: number): number | null {
  if (task.status !== 'running') return null;
  let at = Infinity;
  if (task.lastMoveAtMs !== null && task.health !== 'stuck') {
    const due = task.lastMoveAtMs + stuckAfterMs(cfg, usualGapMs, stagePace(task, history)) + 1;
    // Read again shortly before it falls due (given `nowMs`): the usual gap and the task's pace
    // move with other tasks' reports and completions, and a limit that shrank since it was
    // armed would be told late (bench/eta.ts saw 3.01× the usual gap without this).
    at = nowMs !== undefined && due - RECHECK_BEFORE_MS > nowMs ? due - RECHECK_BEFORE_MS : due;
  }
  if (task.health !== 'slow') {
    const lim = slowLimit(task, history);
    if (lim) at = Math.min(at, lim.sinceMs + lim.limitMs + 1);
  }
  return Number.isFinite(at) ? at : null;
}
