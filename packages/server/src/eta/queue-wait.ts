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
}

/**
 * The wait of each position 1..`upTo` (index 0 is position 1), ms. With no worker seen at all,
 * one is assumed (the wait is then a lower bound).
 */
export function queueWaits(input: QueueWaitInput, upTo: number): Float64Array {
  const out = new Float64Array(Math.max(0, upTo));
  const heap: number[] = [];
  for (const ms of input.busyRemainingMs) push(heap, Math.max(0, ms));
  for (let i = 0; i < input.idleWorkers; i++) push(heap, 0);
  if (heap.length === 0) push(heap, 0);
  const workers = heap.length;
  const service = Math.max(0, input.serviceMs);
  const n = Math.min(upTo, SIMULATED);
  for (let p = 0; p < n; p++) {
    // The next slot to free takes position p+1; it frees again one run later.
    const at = pop(heap);
    out[p] = at;
    push(heap, at + service);
  }
  for (let p = n; p < upTo; p++) out[p] = out[n - 1]! + ((p - n + 1) * service) / workers;
  return out;
}

function push(h: number[], v: number): void {
  h.push(v);
  let i = h.length - 1;
  while (i > 0) {
    const parent = (i - 1) >> 1;
    if (h[parent]! <= v) break;
    h[i] = h[parent]!;
    i = parent;
  }
  h[i] = v;
}

function pop(h: number[]): number {
  const top = h[0]!;
  const last = h.pop()!;
  if (h.length > 0) {
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= h.length) break;
      const c = l + 1 < h.length && h[l + 1]! < h[l]! ? l + 1 : l;
      if (h[c]! >= last) break;
      h[i] = h[c]!;
      i = c;
    }
    h[i] = last;
  }
  return top;
}
