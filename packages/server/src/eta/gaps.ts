/**
 * The usual gap between progress moves, per task type and stage, for `stuck`. Kept in memory
 * from the reports this instance applies (a restarted instance relearns it within a few tasks;
 * until then `stuck` waits the configured default). O(1) per report: a ring of recent gaps
 * whose high quantile is recomputed every {@link RECOMPUTE_EVERY} additions.
 */
const RING = 512;
const RECOMPUTE_EVERY = 64;
/** Gaps seen before the quantile is trusted. */
const MIN_GAPS = 30;
/**
 * "Usual" is a high quantile, not the mean: progress arrives in bursts and pauses, and a rule
 * based on the mean gap would flag every healthy task that pauses (bench/eta.ts measures it).
 */
const USUAL_QUANTILE = 0.99;
/**
 * How much the usual gap a task is judged by may fall while it is quiet. The p99 is re-read
 * from other tasks' reports, and one that drops (a long gap leaving the ring) would move a quiet
 * task's `stuck` limit below the quiet under way (bench/eta.ts saw 3.21× the gap at the flag):
 * a task is judged by the usual gap as it was at its last move, less at most this share.
 */
const QUIET_MAX_FALL = 0.03;

/** Scratch space of {@link kthSmallest} (one ring at a time: it is synchronous). */
const SCRATCH = new Float64Array(RING);

class Ring {
  readonly values = new Float64Array(RING);
  size = 0;
  next = 0;
  sinceRecompute = 0;
  usual: number | null = null;

  add(gapMs: number): void {
    this.values[this.next] = gapMs;
    this.next = (this.next + 1) % RING;
    if (this.size < RING) this.size++;
    if (++this.sinceRecompute >= RECOMPUTE_EVERY || (this.usual === null && this.size >= MIN_GAPS)) {
      this.sinceRecompute = 0;
      this.usual = this.size >= MIN_GAPS ? kthSmallest(this.values, this.size, Math.min(this.size - 1, Math.floor(USUAL_QUANTILE * this.size))) : null;
    }
  }
}

/**
 * The `k`-th smallest (0-based) of the first `n` values, as `values.slice(0, n).sort()[k]` gives
 * it, in O(n) (quickselect on a copy) rather than a sort: this ran every 64 reports of a stage.
 */
export function kthSmallest(values: Float64Array, n: number, k: number): number {
  const a = SCRATCH.length >= n ? SCRATCH : new Float64Array(n);
  a.set(values.subarray(0, n));
  let lo = 0;
  let hi = n - 1;
  while (lo < hi) {
    const pivot = a[(lo + hi) >> 1]!;
    let i = lo;
    let j = hi;
    while (i <= j) {
      while (a[i]! < pivot) i++;
      while (a[j]! > pivot) j--;
      if (i <= j) {
        const t = a[i]!;
        a[i++] = a[j]!;
        a[j--] = t;
      }
    }
    if (k <= j) hi = j;
    else if (k >= i) lo = i;
    else break;
  }
  return a[k]!;
}

export class ReportGaps {
  readonly #rings = new Map<string, Ring>();
  /**
   * `type\nstage` by type and stage, made once: a key built per report was a new string to hash
   * on every lookup (two per report). Bounded like the rings; cleared whole when full.
   */
  readonly #keys = new Map<string, Map<string, string>>();
  #keyCount = 0;
  readonly #maxKeys: number;
  /** Per running task: its stage and last move, and the usual gap of that stage then. */
  readonly #atMove = new Map<string, { key: string; movedAtMs: number | null; usual: number | null }>();
  readonly #maxTasks: number;

  constructor(maxKeys = 10_000, maxTasks = 100_000) {
    this.#maxKeys = maxKeys;
    this.#maxTasks = maxTasks;
  }

  /**
   * The usual gap a task in `stage` is judged by: the stage's ({@link usual}), but while the
   * task stays quiet never more than {@link QUIET_MAX_FALL} below what it was at its last move
   * (it may rise). O(1): a map entry per running task, kept until {@link forget}.
   */
  usualFor(type: string, stage: string, task: { id: string; lastMoveAtMs: number | null }): number | null {
    const key = this.#key(type, stage);
    const now = this.#rings.get(key)?.usual ?? null;
    const was = this.#atMove.get(task.id);
    if (was && was.key === key && was.movedAtMs === task.lastMoveAtMs) {
      return was.usual !== null && now !== null ? Math.max(now, was.usual * (1 - QUIET_MAX_FALL)) : now;
    }
    // Bounded: a task whose end this instance never sees is forgotten first.
    if (!was && this.#atMove.size >= this.#maxTasks) this.#atMove.delete(this.#atMove.keys().next().value!);
    this.#atMove.set(task.id, { key, movedAtMs: task.lastMoveAtMs, usual: now });
    return now;
  }

  /** A task that stopped running here. */
  forget(id: string): void {
    this.#atMove.delete(id);
  }

  /** A task of `type` moved after `gapMs` of quiet in `stage`. */
  observe(type: string, stage: string, gapMs: number): void {
    if (!(gapMs >= 0)) return;
    this.#ring(this.#key(type, stage)).add(gapMs);
  }

  /**
   * The usual (p99) gap of the type's stage, or null while too few were seen. Not the type's:
   * a stage that reports nothing inside has one gap per run, far longer than its neighbours'.
   */
  usual(type: string, stage: string): number | null {
    return this.#rings.get(this.#key(type, stage))?.usual ?? null;
  }

  #key(type: string, stage: string): string {
    let key = this.#keys.get(type)?.get(stage);
    if (key !== undefined) return key;
    if (this.#keyCount >= this.#maxKeys) {
      this.#keys.clear();
      this.#keyCount = 0;
    }
    let byStage = this.#keys.get(type);
    if (byStage === undefined) this.#keys.set(type, (byStage = new Map()));
    byStage.set(stage, (key = `${type}\n${stage}`));
    this.#keyCount++;
    return key;
  }

  #ring(key: string): Ring {
    let r = this.#rings.get(key);
    if (!r) {
      // Bounded: types and stages are user input; forget the oldest key first.
      if (this.#rings.size >= this.#maxKeys) this.#rings.delete(this.#rings.keys().next().value!);
      r = new Ring();
      this.#rings.set(key, r);
    }
    return r;
  }
}
