/**
 * Queue estimates: a queued task's position is the store's; its expected wait comes from the
 * running tasks of its type (their ETAs), the type's mean run and the workers seen lately
 * (eta/queue-wait.ts). This keeps what that needs in memory — the running tasks per type as this
 * instance knows them (its own changes at once, the others' with the health scan), the most seen
 * running at once lately, and the waits of positions 1..n for a second (a list of queued tasks).
 */
import type { Task } from '@taskpulse/protocol';
import type { TaskRecord } from '../store/store.ts';
import type { HistoryCache } from '../eta/history.ts';
import { WHOLE_TASK, estimate, type EtaTask } from '../eta/eta.ts';
import { queueWaits } from '../eta/queue-wait.ts';

/** Workers of a type are those seen running it at once within the last 5–10 minutes. */
const PEAK_WINDOW_MS = 5 * 60_000;
/** Computed waits are reused this long. */
const WAITS_TTL_MS = 1000;
/** Types remembered at most (peaks and waits). */
const MAX_TYPES = 10_000;

export class QueueEstimates {
  readonly #history: HistoryCache;
  readonly #now: () => number;
  /** The running tasks per type, as the queue estimate keeps them (see {@link slim}). */
  #running = new Map<string, Map<string, EtaTask>>();
  readonly #peak = new Map<string, { window: number; now: number; before: number }>();
  /** Per type: the waits of queue positions 1..n, reused for a second (a list of queued tasks). */
  readonly #waits = new Map<string, { atMs: number; waits: Float64Array }>();

  constructor(history: HistoryCache, now: () => number = Date.now) {
    this.#history = history;
    this.#now = now;
  }

  /**
   * Position and expected wait of a queued task: its type's workers free up when their running
   * tasks end (by those tasks' ETAs) and then every mean run of the type; idle workers seen
   * lately take it at once (eta/queue-wait.ts).
   */
  info(t: TaskRecord, position: number): Task['queue'] {
    const nowMs = this.#now();
    const cached = this.#waits.get(t.type);
    let waits = cached && nowMs - cached.atMs < WAITS_TTL_MS && cached.waits.length >= position ? cached.waits : null;
    if (!waits) {
      const stats = this.#history.get(t.type);
      let serviceMs: number | null = stats.get(WHOLE_TASK)?.meanMs ?? null;
      let medianServiceMs = stats.get(WHOLE_TASK)?.medianMs;
      if (serviceMs === null && t.stages.length > 0) {
        let sum = 0;
        for (const s of t.stages) sum += stats.get(s.key)?.meanMs ?? NaN;
        serviceMs = Number.isNaN(sum) ? null : sum;
        medianServiceMs = undefined;
      }
      if (serviceMs === null) return { position, estimatedWaitMs: null };
      const running = [...(this.#running.get(t.type)?.values() ?? [])];
      const busyRemainingMs = running.map((r) => {
        const eta = estimate(r, stats, nowMs)?.remainingMs;
        const started = r.attemptStartedAtMs ?? r.stageStartedAtMs ?? nowMs;
        return eta ?? Math.max(0, serviceMs! - (nowMs - started));
      });
      const idleWorkers = Math.max(0, this.#notePeak(t.type, running.length, nowMs) - running.length);
      // Room for the positions near this one: a list of queued tasks reuses it.
      waits = queueWaits({ busyRemainingMs, idleWorkers, serviceMs, ...(medianServiceMs ? { medianServiceMs } : {}) }, Math.max(64, 2 ** Math.ceil(Math.log2(position))));
      if (this.#waits.size >= MAX_TYPES) this.#waits.delete(this.#waits.keys().next().value!);
      this.#waits.set(t.type, { atMs: nowMs, waits });
    }
    return { position, estimatedWaitMs: Math.round(waits[position - 1]!) };
  }

  /** Keeps the running set of `t`'s type current after a change this instance committed. */
  track(t: TaskRecord, nowMs: number): void {
    let m = this.#running.get(t.type);
    if (t.status === 'running') {
      if (!m) this.#running.set(t.type, (m = new Map()));
      const known = m.has(t.id);
      m.set(t.id, slim(t));
      if (known) return; // a report: the waits computed within the last second stand
    } else if (!m?.delete(t.id)) return;
    this.#waits.delete(t.type);
    this.#notePeak(t.type, m!.size, nowMs);
  }

  /** Every running task, as a full scan read them (tasks that report to other instances too). */
  setRunning(items: readonly TaskRecord[], nowMs: number): void {
    const running = new Map<string, Map<string, EtaTask>>();
    for (const r of items) {
      let m = running.get(r.type);
      if (!m) running.set(r.type, (m = new Map()));
      m.set(r.id, slim(r));
    }
    this.#running = running;
    this.#waits.clear();
    for (const [type, m] of running) this.#notePeak(type, m.size, nowMs);
  }

  /** The most tasks of a type seen running at once over the last 5–10 minutes (two windows). */
  #notePeak(type: string, count: number, nowMs: number): number {
    const window = Math.floor(nowMs / PEAK_WINDOW_MS);
    let p = this.#peak.get(type);
    if (!p) {
      if (this.#peak.size >= MAX_TYPES) this.#peak.delete(this.#peak.keys().next().value!);
      this.#peak.set(type, (p = { window, now: 0, before: 0 }));
    }
    if (p.window !== window) {
      p.before = p.window === window - 1 ? p.now : 0;
      p.now = 0;
      p.window = window;
    }
    p.now = Math.max(p.now, count);
    return Math.max(p.now, p.before);
  }
}

/**
 * A running task as the queue estimate keeps it: what its ETA reads, not `input`, `result` or
 * `metadata` (up to 512 KiB each: thousands of running tasks must not pin them). A literal of one
 * shape: ~60 ns of CPU a report.
 */
function slim(t: TaskRecord): EtaTask {
  return {
    status: t.status, stages: t.stages, stageIndex: t.stageIndex, stageStartedAtMs: t.stageStartedAtMs, done: t.done, total: t.total,
    lastMoveAtMs: t.lastMoveAtMs, attemptStartedAtMs: t.attemptStartedAtMs ?? null,
  };
}
