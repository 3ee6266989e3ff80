/**
 * Calibration on the user's own tasks: what the ETA said along the way against what happened.
 * While a task runs, the ETAs published with its events are sampled in memory (at most
 * {@link MAX_SAMPLES} per attempt, evenly spread however long it runs: O(1) per report). When it
 * completes, the ETA shown at 10/25/50/75/90 % of its true duration is scored and the scores are
 * written in the same transaction as the completion (`eta_checks`), so `GET /v1/stats` can say
 * how far to trust the ETA per type. A task that moved between instances is scored from the
 * samples the completing instance saw; one that failed or was canceled is not scored (its true
 * duration is unknown).
 */
import type { Eta } from '@taskpulse/protocol';
import type { EtaCheck, TaskRecord } from '../store/store.ts';

/** Shares of the true duration at which the ETA is scored. */
export const CHECKPOINTS = [10, 25, 50, 75, 90] as const;
const MAX_SAMPLES = 32;
const FIRST_EVERY_MS = 250;

interface Samples {
  attempt: number;
  startMs: number;
  everyMs: number;
  /** Flattened [elapsedMs, remainingMs (NaN: no ETA), lowMs, highMs] per sample. */
  data: number[];
}

export class EtaRecorder {
  readonly #tasks = new Map<string, Samples>();
  readonly #maxTasks: number;

  constructor(maxTasks = 100_000) {
    this.#maxTasks = maxTasks;
  }

  /** Notes the ETA a running task was published with at `nowMs`. */
  sample(t: TaskRecord, eta: Eta | null, nowMs: number): void {
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
    const last = s.data.length >= 4 ? s.data[s.data.length - 4]! : -Infinity;
    if (elapsed - last < s.everyMs) return;
    if (s.data.length >= MAX_SAMPLES * 4) {
      // Full: keep every other sample and sample half as often, so the samples always span the run.
      s.data = s.data.filter((_, i) => Math.floor(i / 4) % 2 === 0);
      s.everyMs *= 2;
    }
    const ok = eta !== null && eta.remainingMs !== null;
    s.data.push(elapsed, ok ? eta.remainingMs! : NaN, ok ? eta.lowMs ?? NaN : NaN, ok ? eta.highMs ?? NaN : NaN);
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
      for (let k = 0; k < s.data.length && s.data[k]! <= at; k += 4) i = k;
      if (i < 0) continue;
      const truth = durationMs - at;
      const since = at - s.data[i]!;
      const remaining = s.data[i + 1]!;
      if (Number.isNaN(remaining)) {
        out.push({ type: t.type, endedAtMs: nowMs, checkpoint, error: null, inside: null, width: null });
        continue;
      }
      const shown = Math.max(0, remaining - since);
      const low = s.data[i + 2]! - since;
      const high = s.data[i + 3]! - since;
      const unit = Math.max(truth, 1);
      out.push({
        type: t.type, endedAtMs: nowMs, checkpoint,
        error: Math.abs(shown - truth) / unit,
        inside: truth >= low && truth <= high,
        width: (high - low) / unit,
      });
    }
    return out;
  }

  forget(id: string): void {
    this.#tasks.delete(id);
  }
}
