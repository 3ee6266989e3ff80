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
      const sorted = this.values.slice(0, this.size).sort();
      this.usual = this.size >= MIN_GAPS ? sorted[Math.min(this.size - 1, Math.floor(USUAL_QUANTILE * this.size))]! : null;
    }
  }
}

export class ReportGaps {
  readonly #rings = new Map<string, Ring>();
  readonly #maxKeys: number;

  constructor(maxKeys = 10_000) {
    this.#maxKeys = maxKeys;
  }

  /** A task of `type` moved after `gapMs` of quiet in `stage`. */
  observe(type: string, stage: string, gapMs: number): void {
    if (!(gapMs >= 0)) return;
    this.#ring(`${type}\n${stage}`).add(gapMs);
  }

  /**
   * The usual (p99) gap of the type's stage, or null while too few were seen. Not the type's:
   * a stage that reports nothing inside has one gap per run, far longer than its neighbours'.
   */
  usual(type: string, stage: string): number | null {
    return this.#rings.get(`${type}\n${stage}`)?.usual ?? null;
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
