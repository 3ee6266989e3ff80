/**
 * Applying the state machine's changes in units of work: one store write per unit, and in it, per
 * change, the task event (with `eta` and `queue` as of now), the row, its log line, stage history,
 * the parent's counts, ETA calibration and the owner's notification.
 *
 * What a unit teaches this instance's memory — stage durations and report gaps (the ETA history),
 * ETA samples, health deadlines, the running set of the queue estimate — is handed to the unit as
 * an effect ({@link AfterCommit}) and applied only once the unit committed: a unit that fails or
 * is undone must not skew the ETA, and a unit the store runs again starts with none.
 */
import { isTerminal, type Eta, type EventType, type LogLevel, type Notification } from '@taskpulse/protocol';
import type { Store, TaskRecord, WriteOptions, WriteTx } from '../store/store.ts';
import { newId } from '../ids.ts';
import type { HistoryCache } from '../eta/history.ts';
import { EtaRecorder } from '../eta/calibration.ts';
import { MODEL_BAND, WHOLE_TASK, estimate } from '../eta/eta.ts';
import type { QueueEstimates } from './queue.ts';
import type { HealthWatch } from './health.ts';
import * as model from './model.ts';
import type { Change } from './model.ts';

/** Effects on memory a unit of work leaves for after its commit. */
export type AfterCommit = (effect: () => void) => void;

export interface ChangesDeps {
  store: Store;
  history: HistoryCache;
  queue: QueueEstimates;
  health: HealthWatch;
}

export class Changes {
  readonly #store: Store;
  readonly #history: HistoryCache;
  readonly #queue: QueueEstimates;
  readonly #health: HealthWatch;
  /** What the ETA said along the way, scored when a task completes (calibration, `/v1/stats`). */
  readonly #etaSaid = new EtaRecorder();

  constructor(deps: ChangesDeps) {
    this.#store = deps.store;
    this.#history = deps.history;
    this.#queue = deps.queue;
    this.#health = deps.health;
  }

  /**
   * Runs a unit of work in one store write. The effects it leaves with `afterCommit` run once the
   * unit is durable, in order; never for a unit that failed or was undone.
   */
  async write<T>(fn: (tx: WriteTx, afterCommit: AfterCommit) => Promise<T>, options?: WriteOptions): Promise<T> {
    const effects: (() => void)[] = [];
    const afterCommit: AfterCommit = (effect) => void effects.push(effect);
    const out = await this.#store.write((tx) => {
      effects.length = 0; // a unit the store runs again starts clean
      return fn(tx, afterCommit);
    }, options);
    for (const f of effects) f();
    return out;
  }

  /** A gap between two progress moves of `r` (for `stuck`), learnt once the unit committed. */
  observeGap(r: TaskRecord, gapMs: number, afterCommit: AfterCommit): void {
    afterCommit(() => this.#history.gaps.observe(r.type, stageKey(r), gapMs));
  }

  /**
   * Applies one change in the open transaction: the task event (which fixes the task's `seq`),
   * the row, its log line, stage history, the parent's counts and the owner's notification.
   * Returns the last seq appended (or the task's seq when nothing was).
   */
  async apply(tx: WriteTx, ch: Change, nowMs: number, afterCommit: AfterCommit, insert?: { scope?: string; key?: string; fingerprint?: string }): Promise<number> {
    const t = ch.task;
    let seq = t.seq;
    let eta: Eta | null = null;
    let band = MODEL_BAND;
    if (ch.event) {
      const queue = t.status === 'queued' ? this.#queue.info(t, await tx.queuePosition(t)) : null;
      const history = this.#history.get(t.type);
      band = this.#history.band(t.type);
      eta = estimate(t, history, nowMs, band);
      // The wire task carries the seq the append assigns; the record takes it from the append's answer.
      const appended = tx.appendEvent(
        this.#event(ch.event, t, ch.milestone, nowMs, (s) => {
          const task = model.toTask(t, { eta, queue });
          task.seq = s;
          return { task };
        }),
      );
      t.seq = seq = (appended instanceof Promise ? await appended : appended).seq;
    }
    if (insert) {
      await tx.insertTask(t, insert.key ? { scope: insert.scope!, key: insert.key, fingerprint: insert.fingerprint! } : undefined);
    } else {
      // Awaited only when the store answers later: SQLite's statements answer at once, and an
      // await costs a turn of the microtask queue per report.
      const updated = tx.updateTask(t);
      if (updated instanceof Promise) await updated;
    }
    if (ch.log) {
      const { level, message } = ch.log;
      const at = model.iso(nowMs);
      const ev = await tx.appendEvent(this.#event('task.log', t, true, nowMs, (s) => ({ log: { seq: s, at, level, message } })));
      await tx.insertLog(t.id, ev.seq, at, level as LogLevel, message);
      seq = ev.seq;
    }
    for (const run of ch.stageRuns) {
      await tx.recordStageRun(run);
      afterCommit(() => this.#history.add(run));
    }
    // One effect for what every report teaches (the ETA said, the health deadline, the running set).
    const sample = ch.event !== null && t.status === 'running';
    const track = t.status === 'running' || ch.transition?.from === 'running';
    if (ch.event || track) {
      afterCommit(() => {
        if (sample) this.#etaSaid.sample(t, eta, nowMs, band);
        if (ch.event) this.#health.watch(t, nowMs);
        if (track) this.#queue.track(t, nowMs);
      });
    }
    if (ch.transition && t.parentId) {
      const parent = await tx.getTask(t.parentId);
      if (parent) await this.apply(tx, model.childTransition(parent, ch.transition.from, ch.transition.to, nowMs), nowMs, afterCommit);
    }
    if (ch.transition && ch.transition.from === 'running') {
      // Scored with the completion, in its transaction; forgotten (and taught to the band's calibration) once that is durable.
      if (ch.transition.to === 'completed') {
        const checks = this.#etaSaid.score(t, nowMs);
        await tx.recordEtaChecks(checks);
        afterCommit(() => this.#history.addChecks(checks));
      }
      afterCommit(() => this.#etaSaid.forget(t.id));
    }
    if (ch.transition && isTerminal(ch.transition.to)) await this.#notify(tx, t, nowMs);
    return seq;
  }

  async #notify(tx: WriteTx, t: TaskRecord, nowMs: number): Promise<void> {
    const kind = t.status as 'completed' | 'failed' | 'canceled';
    const n: Notification = {
      id: newId('ntf'),
      seq: 0,
      owner: t.owner,
      taskId: t.id,
      kind,
      ...model.notificationText(t),
      createdAt: model.iso(nowMs),
      readAt: null,
    };
    await tx.appendEvent(
      this.#event('notification.created', t, true, nowMs, (s) => {
        n.seq = s;
        return { notification: n };
      }),
    );
    await tx.insertNotification(n);
  }

  #event(type: EventType, t: TaskRecord, milestone: boolean, nowMs: number, body: (seq: number) => Record<string, unknown>) {
    return {
      type, at: model.iso(nowMs), owner: t.owner, taskId: t.id, taskType: t.type, parentId: t.parentId, tags: t.tags, milestone, body,
    };
  }
}

/** The key of the stage a task is in (or the whole task), as history and report gaps know it. */
export function stageKey(r: Pick<TaskRecord, 'stageIndex' | 'stages'>): string {
  return r.stageIndex >= 0 && r.stages.length > 0 ? r.stages[r.stageIndex]!.key : WHOLE_TASK;
}
