/**
 * Calibration on the user's own tasks: what the ETA said along the way against what happened.
 * While a task runs, the ETAs published with its events are sampled in memory (at most
 * {@link MAX_SAMPLES} per attempt, evenly spread however long it runs: O(1) per report). When it
 * completes, the ETA shown at 10/25/50/75/90 % of its true duration is scored and the scores are
 * written in the same transaction as the completion (`eta_checks`), so `GET /v1/stats` can say
 * how far to trust the ETA per type. A task that moved between instances is scored from the
 * samples the completing instance saw; one that failed or was canceled is not scored (its true
 * duration is unknown).
 *
 * Each score also keeps where the truth fell against the model's own band (`reach`: within
 * ±1 inside it), so {@link bandScale} can say how far the band of a type whose tasks have
 * heavier tails than the model must reach to hold the truth as often as it promises.
 */
import type { Eta } from '@taskpulse/protocol';
import type { EtaCheck, TaskRecord } from '../store/store.ts';
import { MODEL_BAND, quantile, type BandScale } from './eta.ts';

/** Shares of the true duration at which the ETA is scored. */
export const CHECKPOINTS = [10, 25, 50, 75, 90] as const;
const MAX_SAMPLES = 32;
const FIRST_EVERY_MS = 250;
/** Numbers kept per sample (see {@link Samples.data}). */
const W = 6;

interface Samples {
  attempt: number;
  startMs: number;
  everyMs: number;
  /**
   * Flattened [elapsedMs, remainingMs (NaN: no ETA), lowMs, highMs, ln of the model's median,
   * the model's log half-width (NaN: not known)] per sample.
   */
  data: number[];
}

export class EtaRecorder {
  readonly #tasks = new Map<string, Samples>();
  readonly #maxTasks: number;

  constructor(maxTasks = 100_000) {
    this.#maxTasks = maxTasks;
  }

  /** Notes the ETA a running task was published with at `nowMs` (its band widened by `band`). */
  sample(t: TaskRecord, eta: Eta | null, nowMs: number, band: Readonly<BandScale> = MODEL_BAND): void {
    if (t.status !== 'running') return;
    const startMs = t.attemptStartedAtMs ?? null;
    if (startMs === null) return;
    let s = this.#tasks.get(t.id);
    if (!s || s.attempt !== t.attempt) {
      // Bounded: a task whose end this instance never sees is forgotten first.
      if (!s && this.#tasks.size >= this.#maxTasks) this.#tasks.delete(this.#tasks.keys().next().value!);
      s = { attempt: t.attempt, startMs, everyMs: FIRST_EVERY_MS, data: [] };
      this.#tasks.set(t.id, s);
    }
    const elapsed = nowMs - s.startMs;
    const last = s.data.length >= W ? s.data[s.data.length - W]! : -Infinity;
    if (elapsed - last < s.everyMs) return;
    if (s.data.length >= MAX_SAMPLES * W) {
      // Full: keep every other sample and sample half as often, so the samples always span the run.
      s.data = s.data.filter((_, i) => Math.floor(i / W) % 2 === 0);
      s.everyMs *= 2;
    }
    const ok = eta !== null && eta.remainingMs !== null;
    const low = ok ? eta.lowMs ?? NaN : NaN;
    const high = ok ? eta.highMs ?? NaN : NaN;
    // The model's band, undone from the shown one: ln low = ln m − h·band.low, ln high = ln m + h·band.high.
    const half = low >= 1 && high > low ? (Math.log(high) - Math.log(low)) / (band.low + band.high) : NaN;
    s.data.push(elapsed, ok ? eta.remainingMs! : NaN, low, high, Math.log(high) - half * band.high, half);
  }

  /**
   * The scores of a task that completed at `nowMs`: at each checkpoint, the ETA a client showed
   * then (the last one published before it, counted down as `eta.at` lets a client do) against
   * the true remaining time.
   */
  score(t: TaskRecord, nowMs: number): EtaCheck[] {
    const s = this.#tasks.get(t.id);
    if (!s || s.attempt !== t.attempt) return [];
    const durationMs = nowMs - s.startMs;
    if (durationMs <= 0) return [];
    const out: EtaCheck[] = [];
    for (const checkpoint of CHECKPOINTS) {
      const at = (durationMs * checkpoint) / 100;
      let i = -1;
      for (let k = 0; k < s.data.length && s.data[k]! <= at; k += W) i = k;
      if (i < 0) continue;
      const truth = durationMs - at;
      const since = at - s.data[i]!;
      const remaining = s.data[i + 1]!;
      if (Number.isNaN(remaining)) {
        out.push({ type: t.type, endedAtMs: nowMs, checkpoint, error: null, inside: null, width: null, reach: null });
        continue;
      }
      const shown = Math.max(0, remaining - since);
      const low = s.data[i + 2]! - since;
      const high = s.data[i + 3]! - since;
      const unit = Math.max(truth, 1);
      // Counted down, the band holds the truth when low ≤ truth + since ≤ high as published.
      const reach = (Math.log(truth + since) - s.data[i + 4]!) / s.data[i + 5]!;
      out.push({
        type: t.type, endedAtMs: nowMs, checkpoint,
        error: Math.abs(shown - truth) / unit,
        inside: truth >= low && truth <= high,
        width: (high - low) / unit,
        reach: Number.isFinite(reach) ? reach : null,
      });
    }
    return out;
  }

  forget(id: string): void {
    this.#tasks.delete(id);
  }
}

/** The share of scores the band should hold the truth in (the model's interval: 86 %). */
export const BAND_TARGET = 0.86;
/** Scores (with a band) a type needs before its band is widened. */
export const MIN_BAND_CHECKS = 20;
/** The widest calibration goes: e^(3·BAND_Z·σ) either side. */
const MAX_SCALE = 3;

/**
 * How far a type's band must reach to hold the truth in {@link BAND_TARGET} of its recorded
 * scores, from where the truth fell against the model's own band in each (`reach`, newest
 * first; within ±1: inside). Unchanged while the model's band holds it often enough or fewer
 * than {@link MIN_BAND_CHECKS} scores say so. Otherwise each side misses at most half of the
 * allowed share — the side that already misses less leaves the rest to the other — and no side
 * is ever narrower than the model's (≥ 1), at most {@link MAX_SCALE}.
 */
export function bandScale(reaches: readonly number[], target = BAND_TARGET): BandScale {
  const n = reaches.length;
  if (n < MIN_BAND_CHECKS) return MODEL_BAND;
  const above = reaches.filter((r) => r > 1).length / n;
  const below = reaches.filter((r) => r < -1).length / n;
  const allowed = 1 - target;
  if (above + below <= allowed) return MODEL_BAND;
  const side = (miss: number, other: number, values: number[]) => {
    if (miss <= allowed / 2) return 1;
    const share = allowed - Math.min(other, allowed / 2);
    return Math.min(MAX_SCALE, Math.max(1, quantile(values.sort((a, b) => a - b), 1 - share)));
  };
  return {
    low: side(below, above, reaches.map((r) => -r)),
    high: side(above, below, [...reaches]),
  };
}
