/**
 * The `health` of running tasks (`ok`, `slow`, `stuck`; the rules are in eta/eta.ts). Two parts:
 * {@link HealthWatch} keeps, for each running task this instance applied a change for, the instant
 * its health changes unless it reports again (a timer wheel: deadlines.ts); {@link HealthChecks}
 * re-assesses the tasks whose instant passed (O(due), every 250 ms) and, every few seconds, every
 * running task (those that report to other instances too), appending a `task.updated` on a change.
 */
import type { Store, TaskRecord } from '../store/store.ts';
import type { HistoryCache } from '../eta/history.ts';
import { assessHealth, healthDeadline, type HealthConfig } from '../eta/eta.ts';
import { Deadlines } from './deadlines.ts';
import { stageKey, type Changes } from './changes.ts';
import type { QueueEstimates } from './queue.ts';
import * as model from './model.ts';

/** Running tasks read by one full scan, at most. */
const SCAN_LIMIT = 5000;

export class HealthWatch {
  readonly #history: HistoryCache;
  readonly #config: HealthConfig;
  /** Running task id → when its `health` changes unless it reports. */
  readonly #due = new Deadlines();

  constructor(history: HistoryCache, config: HealthConfig) {
    this.#history = history;
    this.#config = config;
  }

  /** The health of `r` at `nowMs`. */
  assess(r: TaskRecord, nowMs: number): ReturnType<typeof assessHealth> {
    return assessHealth(r, this.#history.get(r.type), nowMs, this.#config, this.#history.gaps.usualFor(r.type, stageKey(r), r));
  }

  /**
   * Remembers when a running task's health changes unless it reports again: now, when a report
   * changed it (its pace, its stage), else the instant it would stop being `ok` by waiting.
   */
  watch(t: TaskRecord, nowMs: number): void {
    if (t.status !== 'running') {
      this.#history.gaps.forget(t.id);
      return this.#due.delete(t.id);
    }
    const history = this.#history.get(t.type);
    const usualGap = this.#history.gaps.usualFor(t.type, stageKey(t), t);
    const at = assessHealth(t, history, nowMs, this.#config, usualGap) !== (t.health ?? 'ok') ? nowMs : healthDeadline(t, history, this.#config, usualGap, nowMs);
    if (at === null) this.#due.delete(t.id);
    else this.#due.set(t.id, at);
  }

  /** The ids whose instant passed by `nowMs` (each handed out once). */
  take(nowMs: number): string[] {
    return this.#due.take(nowMs);
  }
}

export interface HealthChecksDeps {
  store: Store;
  changes: Changes;
  watch: HealthWatch;
  /** The full scan also refreshes the queue estimate's running set. */
  queue: QueueEstimates;
  now?: () => number;
}

export class HealthChecks {
  readonly #store: Store;
  readonly #changes: Changes;
  readonly #watch: HealthWatch;
  readonly #queue: QueueEstimates;
  readonly #now: () => number;

  constructor(deps: HealthChecksDeps) {
    this.#store = deps.store;
    this.#changes = deps.changes;
    this.#watch = deps.watch;
    this.#queue = deps.queue;
    this.#now = deps.now ?? Date.now;
  }

  /** Re-assesses `health` of running tasks; a change appends a `task.updated` event. */
  async checkHealth(): Promise<void> {
    const { items } = await this.#store.tasks.list({ statuses: ['running'] }, SCAN_LIMIT, null);
    const nowMs = this.#now();
    this.#queue.setRunning(items, nowMs);
    const changed: TaskRecord[] = [];
    for (const r of items) {
      if (this.#watch.assess(r, nowMs) !== (r.health ?? 'ok')) changed.push(r);
      // Tasks that report to other instances get a deadline here too.
      else this.#watch.watch(r, nowMs);
    }
    await Promise.all(changed.map((r) => this.#reassess(r.id)));
  }

  /**
   * Re-assesses the tasks whose health deadline passed (they stopped moving, or their stage
   * outlasted its healthy runs), from memory: this instance knows the deadline of each task it
   * applied a change for, so `stuck` and `slow` show within one tick of the limit instead of at
   * the next full scan ({@link checkHealth}). O(due): cheap enough to run every 250 ms.
   */
  async checkDeadlines(): Promise<void> {
    const due = this.#watch.take(this.#now());
    await Promise.all(due.map((id) => this.#reassess(id)));
  }

  /** Assesses one task again inside a write; a change of `health` appends an event. */
  #reassess(id: string): Promise<void> {
    return this.#changes.write(async (tx, afterCommit) => {
      const r = await tx.getTask(id);
      if (!r || r.status !== 'running') return;
      const now = this.#now();
      const health = this.#watch.assess(r, now);
      if (health !== (r.health ?? 'ok')) await this.#changes.apply(tx, model.setHealth(r, health, now), now, afterCommit);
      else afterCommit(() => this.#watch.watch({ ...r, health }, now));
    }, { tasks: [id] });
  }
}
