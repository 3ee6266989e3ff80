/**
 * How long a queued task waits for a worker. Pure: the workers of its type are modelled as
 * slots that free up when their running task ends (its ETA) and, after that, every mean run of
 * the type; the task at queue position p is claimed when the p-th slot frees. Exact for FIFO
 * claims with constant-length runs; with varying runs the error grows like √p runs (the sum of
 * the runs ahead), which no estimate avoids.
 */

/** Positions simulated slot by slot; beyond, the queue drains at `workers / serviceMs`. */
const SIMULATED = 1000;

export interface QueueWaitInput {
  /** Remaining ms of each task of the type running now (its ETA, or a guess from history). */
  busyRemainingMs: readonly number[];
  /** Workers of the type seen lately that run nothing now (a queued task is theirs at once). */
  idleWorkers: number;
  /** Mean run of the type, ms: the mean, not the median — waits add runs up, outliers included. */
  serviceMs: number;
  /**
   * Median run of the type, ms (default: the mean). A wait of k runs is told by the median of
   * their sum — the median for one run, towards k × the mean for many (Fenton–Wilkinson).
   */
  medianServiceMs?: number;
}

/**
 * The wait of each position 1..`upTo` (index 0 is position 1), ms. With no worker seen at all,
 * one is assumed (the wait is then a lower bound).
 */
export function queueWaits(input: QueueWaitInput, upTo: number): Float64Array {
  const out = new Float64Array(Math.max(0, upTo));
  // Slots by when they free at the mean pace: [ms, the running task's remaining, runs since].
  const heap: Slot[] = [];
  for (const ms of input.busyRemainingMs) push(heap, [Math.max(0, ms), Math.max(0, ms), 0]);
  for (let i = 0; i < input.idleWorkers; i++) push(heap, [0, 0, 0]);
  if (heap.length === 0) push(heap, [0, 0, 0]);
  const workers = heap.length;
  const mean = Math.max(0, input.serviceMs);
  const median = Math.min(mean, Math.max(0, input.medianServiceMs ?? mean));
  // cv² of one run from mean / median (log-normal: (mean / median)² = 1 + cv²).
  const cv2 = median > 0 ? (mean / median) ** 2 - 1 : 0;
  const sumOf = (k: number) => (k === 0 ? 0 : (k * mean) / Math.sqrt(1 + cv2 / k));
  const n = Math.min(upTo, SIMULATED);
  for (let p = 0; p < n; p++) {
    // The next slot to free takes position p+1; it frees again one run later.
    const [at, base, k] = pop(heap);
    out[p] = base + sumOf(k);
    push(heap, [at + mean, base, k + 1]);
  }
  for (let p = n; p < upTo; p++) out[p] = out[n - 1]! + ((p - n + 1) * mean) / workers;
  return out;
}

type Slot = [at: number, base: number, runs: number];

function push(h: Slot[], v: Slot): void {
  h.push(v);
  let i = h.length - 1;
  while (i > 0) {
    const parent = (i - 1) >> 1;
    if (h[parent]![0] <= v[0]) break;
    h[i] = h[parent]!;
    i = parent;
  }
  h[i] = v;
}

function pop(h: Slot[]): Slot {
  const top = h[0]!;
  const last = h.pop()!;
  if (h.length > 0) {
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= h.length) break;
      const c = l + 1 < h.length && h[l + 1]![0] < h[l]![0] ? l + 1 : l;
      if (h[c]![0] >= last[0]) break;
      h[i] = h[c]!;
      i = c;
    }
    h[i] = last;
  }
  return top;
}
