/**
 * The task service: applies the pure state machine (`model.ts`) inside store transactions, and
 * turns each change into events, notifications, parent counts and stage history.
 * Routes call it after validating and authenticating; it checks what a principal may touch.
 */
import {
  TaskPulseError, isTerminal,
  type CreateTaskRequest, type EventType, type FailRequest, type Lease, type LogLevel, type Notification, type Task,
} from '@taskpulse/protocol';
import { createHash } from 'node:crypto';
import type { EventFilter, Store, TaskFilter, TaskRecord, WriteOptions, WriteTx } from '../store/store.ts';
import { unavailableError } from '../http/errors.ts';
import { canSee, type Principal } from '../auth/principal.ts';
import { snapshotFilter } from '../stream/event-filter.ts';
import { newId, randomToken } from '../ids.ts';
import { HistoryCache } from '../eta/history.ts';
import { EtaRecorder } from '../eta/calibration.ts';
import { WHOLE_TASK, assessHealth, estimate, healthDeadline, type EtaTask, type HealthConfig } from '../eta/eta.ts';
import { Deadlines } from './deadlines.ts';
import { queueWaits } from '../eta/queue-wait.ts';
import * as model from './model.ts';
import type { Change, ProgressUpdate } from './model.ts';
import type { SortSpec } from '../store/task-sort.ts';

export interface TaskServiceConfig {
  /** Lease length when a worker does not ask for one at claim (renewals keep the claimed length). */
  leaseMs: number;
  health: HealthConfig;
}

export interface TaskServiceDeps {
  store: Store;
  history: HistoryCache;
  /** Resolves when an event after `after` is committed, or on timeout (long polls). */
  waitForEvent: (after: number, timeoutMs: number, signal?: AbortSignal) => Promise<void>;
  now?: () => number;
}

/** One answer of a batch: applied, or refused with the error it would have had alone. */
export type BatchResult = ({ id: string; ok: true } & ReportAnswer) | { id: string; ok: false; error: { code: string; message: string } };

export interface ReportAnswer {
  seq: number;
  cancelRequested: boolean;
  lease: { expiresAt: string };
}

export class TaskService {
  readonly #store: Store;
  readonly #history: HistoryCache;
  readonly #config: TaskServiceConfig;
  readonly #wait: TaskServiceDeps['waitForEvent'];
  readonly #now: () => number;
  /**
   * The running tasks per type as this instance knows them (its own changes at once, the others'
   * with the 5 s scan), and how many ran at once lately: the workers a queued task waits for.
   */
  #running = new Map<string, Map<string, EtaTask>>();
  readonly #peak = new Map<string, { window: number; now: number; before: number }>();
  /** Per type: the waits of queue positions 1..n, reused for a second (a list of queued tasks). */
  readonly #waits = new Map<string, { atMs: number; waits: Float64Array }>();
  /** Running task id → when its `health` changes unless it reports (see {@link checkDeadlines}). */
  readonly #due = new Deadlines();
  /** What the ETA said along the way, scored when a task completes (calibration, `/v1/stats`). */
  readonly #etaSaid = new EtaRecorder();
  #closing = false;

  constructor(config: TaskServiceConfig, deps: TaskServiceDeps) {
    this.#config = config;
    this.#store = deps.store;
    this.#history = deps.history;
    this.#wait = deps.waitForEvent;
    this.#now = deps.now ?? Date.now;
  }

  // ------------------------------------------------------------ reads

  /** The public task, with `eta` and `queue` computed now. */
  async present(r: TaskRecord): Promise<Task> {
    const queue = r.status === 'queued' ? this.#queueInfo(r, await this.#store.tasks.queuePosition(r)) : null;
    return model.toTask(r, { eta: estimate(r, this.#history.get(r.type), this.#now()), queue });
  }

  /** A task the principal may see, or 404 exactly as for a task that does not exist. */
  async getVisible(p: Principal, id: string): Promise<TaskRecord> {
    const r = await this.#store.tasks.get(id);
    if (!r || !canSee(p, r)) throw new TaskPulseError('not_found', `no task ${id}`);
    return r;
  }

  async list(p: Principal, q: TaskFilter, limit: number, cursor: string | null, sort?: SortSpec): Promise<{ tasks: Task[]; nextCursor: string | null }> {
    const page = await this.#store.tasks.list(this.#scoped(p, q), limit, cursor, sort);
    return { tasks: await Promise.all(page.items.map((r) => this.present(r))), nextCursor: page.nextCursor };
  }

  /** A list filter within what the principal may see: a viewer only ever reads its own tasks. */
  #scoped(p: Principal, q: TaskFilter): TaskFilter {
    const filter: TaskFilter = { ...q };
    if (p.role === 'viewer') {
      if (q.owner !== undefined && q.owner !== p.owner) throw new TaskPulseError('forbidden', 'a viewer may only list its own tasks');
      filter.owner = p.owner;
      if (p.taskIds) filter.ids = [...p.taskIds];
    }
    return filter;
  }

  /** The active tasks matching a reader's filter, consistent with the head they are read at. */
  async snapshot(filter: EventFilter, limit = 1000): Promise<{ head: number; tasks: Task[] }> {
    const snap = await this.#store.tasks.snapshot(snapshotFilter(filter), limit);
    return { head: snap.head, tasks: await Promise.all(snap.tasks.map((r) => this.present(r))) };
  }

  async logs(p: Principal, id: string, after: number, limit: number) {
    await this.getVisible(p, id);
    return this.#store.tasks.logs(id, after, limit);
  }

  // ------------------------------------------------------------ writes

  async create(p: Principal, req: CreateTaskRequest, idempotencyKey: string | null): Promise<{ task: Task; lease: Lease | null; created: boolean }> {
    const scope = p.role === 'viewer' ? p.owner : p.role === 'staff' ? p.role : (p.keyId ?? p.role);
    const fingerprint = createHash('sha256').update(JSON.stringify(req)).digest('hex');
    const leaseMs = req.leaseMs ?? this.#config.leaseMs;
    const out = await this.#write(async (tx, later) => {
      const nowMs = this.#now();
      if (idempotencyKey !== null) {
        const prior = await tx.findIdempotent(scope, idempotencyKey);
        if (prior) {
          if (prior.fingerprint !== fingerprint) {
            throw new TaskPulseError('conflict', 'this Idempotency-Key was already used with a different request body');
          }
          const existing = await tx.getTask(prior.taskId);
          if (!existing) throw new TaskPulseError('conflict', 'the task created with this Idempotency-Key no longer exists');
          return { record: existing, created: false };
        }
      }
      let parent: TaskRecord | null = null;
      if (req.parentId) {
        parent = await tx.getTask(req.parentId);
        if (!parent) throw new TaskPulseError('invalid_request', `parent task ${req.parentId} does not exist`, { fields: ['parentId'] });
      }
      const token = req.start ? randomToken('lse') : null;
      const record = model.newTask(req, newId('tsk'), nowMs, token ? { token, leaseMs } : null);
      const change: Change = { task: record, event: 'task.created', milestone: true, stageRuns: [] };
      await this.#apply(tx, change, nowMs, later, idempotencyKey === null ? {} : { scope, key: idempotencyKey, fingerprint });
      if (parent) await this.#apply(tx, model.childTransition(parent, null, record.status, nowMs), nowMs, later);
      return { record, created: true };
    });
    // A replayed `start: true` gets the lease back while the attempt it started still runs:
    // the caller that lost the first answer can go on reporting.
    const replayable = out.record.status === 'running' && out.record.attempt === 1 && out.record.lease !== null;
    const lease = req.start && (out.created || replayable) && out.record.lease ? leaseOf(out.record) : null;
    return { task: await this.present(out.record), lease, created: out.created };
  }

  /** Claims the oldest queued task of `types`, waiting up to `waitMs` for one to appear. */
  async claim(types: string[], leaseMs: number | undefined, waitMs: number, signal?: AbortSignal): Promise<{ task: Task; lease: Lease } | null> {
    const deadline = this.#now() + waitMs;
    for (;;) {
      const headBefore = await this.#store.events.head();
      const claimed = await this.#write(async (tx, later) => {
        const next = await tx.nextQueued(types);
        if (!next) return null;
        const nowMs = this.#now();
        const change = model.claim(next, randomToken('lse'), leaseMs ?? this.#config.leaseMs, nowMs);
        await this.#apply(tx, change, nowMs, later);
        return change.task;
      });
      if (claimed) return { task: await this.present(claimed), lease: leaseOf(claimed) };
      const left = deadline - this.#now();
      if (left <= 0 || signal?.aborted || this.#closing) return null;
      await this.#wait(headBefore, left, signal);
    }
  }

  async progress(id: string, u: ProgressUpdate): Promise<ReportAnswer> {
    return this.#write(async (tx, later) => {
      const r = await this.#mustGet(tx, id);
      const nowMs = this.#now();
      return this.#applyProgress(tx, later, r, model.progress(r, u, this.#config.leaseMs, nowMs), nowMs);
    }, { tasks: [id], pure: true });
  }

  /** Applies a report's change (the model accepted it); only storage errors are thrown from here on. */
  async #applyProgress(tx: WriteTx, later: (() => void)[], r: TaskRecord, change: Change, nowMs: number): Promise<ReportAnswer> {
    if (r.lastMoveAtMs !== null && change.task.lastMoveAtMs !== r.lastMoveAtMs) {
      // A move: how long the quiet lasted, in the stage it lasted in (the usual gap, for `stuck`).
      const gapMs = nowMs - r.lastMoveAtMs;
      later.push(() => this.#history.gaps.observe(r.type, stageKey(r), gapMs));
    }
    const seq = await this.#apply(tx, change, nowMs, later);
    return { seq, cancelRequested: change.task.cancelRequested, lease: { expiresAt: model.iso(change.task.lease!.expiresAtMs) } };
  }

  /**
   * Many reports in one request, applied in order; each succeeds or fails on its own. The whole
   * request is one unit of work: a report the model refuses (lease lost, unknown task, done >
   * total) is answered with its error before anything of it is written. Should the unit fail
   * (storage), nothing of it was applied, and the reports are applied one unit each instead, so a
   * partial fault fails only the reports it hits, as before.
   */
  async progressMany(updates: (ProgressUpdate & { id: string })[]): Promise<BatchResult[]> {
    const ids = updates.map((u) => u.id);
    try {
      return await this.#write(async (tx, later) => {
        const out: BatchResult[] = [];
        for (const u of updates) {
          let r: TaskRecord;
          let change: Change;
          let nowMs: number;
          try {
            r = await this.#mustGet(tx, u.id);
            nowMs = this.#now();
            change = model.progress(r, u, this.#config.leaseMs, nowMs);
          } catch (error) {
            if (!(error instanceof TaskPulseError)) throw error;
            out.push({ id: u.id, ok: false, error: { code: error.code, message: error.message } });
            continue;
          }
          const a = await this.#applyProgress(tx, later, r, change, nowMs);
          out.push({ id: u.id, ok: true, seq: a.seq, cancelRequested: a.cancelRequested, lease: a.lease });
        }
        return out;
      }, { tasks: ids, pure: true });
    } catch {
      return this.#progressEach(updates);
    }
  }

  /** The reports of a batch applied one unit each (see {@link progressMany}). */
  async #progressEach(updates: (ProgressUpdate & { id: string })[]): Promise<BatchResult[]> {
    const settled = await Promise.allSettled(updates.map(({ id, ...u }) => this.progress(id, u)));
    const errors = settled.map((s) =>
      s.status === 'fulfilled' ? null
        : s.reason instanceof TaskPulseError ? s.reason
        : (unavailableError(s.reason) ?? new TaskPulseError('internal', 'the update could not be applied')),
    );
    // Storage down for every update: nothing was applied, so the whole request is a 503 the
    // worker SDK retries as is. A partial fault marks only its items `unavailable` (retryable).
    const first = errors[0];
    if (first?.code === 'unavailable' && errors.every((e) => e?.code === 'unavailable')) throw first;
    return settled.map((s, i) => {
      const id = updates[i]!.id;
      if (s.status === 'fulfilled') return { id, ok: true as const, ...s.value };
      const e = errors[i]!;
      return { id, ok: false as const, error: { code: e.code, message: e.message } };
    });
  }

  async heartbeat(id: string, token: string, leaseMs?: number): Promise<Omit<ReportAnswer, 'seq'>> {
    return this.#store.write(async (tx) => {
      const r = await this.#mustGet(tx, id);
      const change = model.heartbeat(r, token, leaseMs, this.#config.leaseMs, this.#now());
      await tx.updateTask(change.task);
      return { cancelRequested: change.task.cancelRequested, lease: { expiresAt: model.iso(change.task.lease!.expiresAtMs) } };
    });
  }

  async complete(id: string, token: string, result: unknown): Promise<Task> {
    return this.#finishWith(id, (r, nowMs) => model.complete(r, token, result, nowMs));
  }

  async fail(id: string, body: FailRequest): Promise<Task> {
    const error = { code: body.error.code ?? 'error', message: body.error.message, ...(body.error.details ? { details: body.error.details } : {}) };
    return this.#finishWith(id, (r, nowMs) => model.fail(r, body.lease, error, body.retry ?? false, nowMs));
  }

  async cancel(p: Principal, id: string): Promise<Task> {
    const r = await this.#write(async (tx, later) => {
      const rec = await tx.getTask(id);
      if (!rec || !canSee(p, rec)) throw new TaskPulseError('not_found', `no task ${id}`);
      const nowMs = this.#now();
      const change = model.cancel(rec, nowMs);
      await this.#apply(tx, change, nowMs, later);
      return change.task;
    });
    return this.present(r);
  }

  /** Staff/admin: queue a failed or canceled task again as a new attempt (409 otherwise). */
  async retry(id: string): Promise<Task> {
    const r = await this.#write(async (tx, later) => {
      const rec = await this.#mustGet(tx, id);
      const nowMs = this.#now();
      const change = model.retry(rec, nowMs);
      await this.#apply(tx, change, nowMs, later);
      return change.task;
    });
    return this.present(r);
  }

  /** Counts by status of the tasks a principal may see that match `q`. */
  async counts(p: Principal, q: TaskFilter): Promise<Record<string, number>> {
    return this.#store.tasks.count(this.#scoped(p, q));
  }

  async markRead(owner: string, sel: { ids?: string[]; upToSeq?: number }): Promise<{ ids: string[]; seq: number | null }> {
    return this.#store.write(async (tx) => {
      const at = model.iso(this.#now());
      const ids = await tx.markNotificationsRead(owner, sel, at);
      if (ids.length === 0) return { ids, seq: null };
      const ev = await tx.appendEvent({
        type: 'notification.read', at, owner, taskId: null, taskType: null, parentId: null, tags: [], milestone: true,
        body: () => ({ read: { ids, readAt: at } }),
      });
      return { ids, seq: ev.seq };
    });
  }

  notifications(owner: string, unreadOnly: boolean, limit: number): Promise<Notification[]> {
    return this.#store.notifications.list(owner, unreadOnly, limit);
  }

  // ------------------------------------------------------------ background

  /** Shutting down: long-poll claims answer 204 at once. */
  close(): void {
    this.#closing = true;
  }

  /** Sends tasks whose lease expired back to the queue, or fails them as stalled. Returns how many. */
  async reap(limit = 100): Promise<number> {
    return this.#write(async (tx, later) => {
      const nowMs = this.#now();
      const expired = await tx.expiredLeases(nowMs, limit);
      for (const r of expired) await this.#apply(tx, model.expire(r, nowMs), nowMs, later);
      return expired.length;
    });
  }

  /** Re-assesses `health` of running tasks; a change appends a `task.updated` event. */
  async checkHealth(): Promise<void> {
    const { items } = await this.#store.tasks.list({ statuses: ['running'] }, 5000, null);
    const nowMs = this.#now();
    const running = new Map<string, Map<string, EtaTask>>();
    for (const r of items) {
      let m = running.get(r.type);
      if (!m) running.set(r.type, (m = new Map()));
      m.set(r.id, slim(r));
    }
    this.#running = running;
    this.#waits.clear();
    for (const [type, m] of running) this.#notePeak(type, m.size, nowMs);
    const changed: TaskRecord[] = [];
    for (const r of items) {
      if (this.#health(r, nowMs) !== (r.health ?? 'ok')) changed.push(r);
      // Tasks that report to other instances get a deadline here too.
      else this.#watch(r, nowMs);
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
    const due = this.#due.take(this.#now());
    await Promise.all(due.map((id) => this.#reassess(id)));
  }

  // ------------------------------------------------------------ internals

  #health(r: TaskRecord, nowMs: number) {
    return assessHealth(r, this.#history.get(r.type), nowMs, this.#config.health, this.#history.gaps.usual(r.type, stageKey(r)));
  }

  /** Assesses one task again inside a write; a change of `health` appends an event. */
  #reassess(id: string): Promise<void> {
    return this.#write(async (tx, later) => {
      const r = await tx.getTask(id);
      if (!r || r.status !== 'running') return;
      const now = this.#now();
      const health = this.#health(r, now);
      if (health !== (r.health ?? 'ok')) await this.#apply(tx, model.setHealth(r, health, now), now, later);
      else later.push(() => this.#watch({ ...r, health }, now));
    });
  }

  /**
   * Remembers when a running task's health changes unless it reports again: now, when a report
   * changed it (its pace, its stage), else the instant it would stop being `ok` by waiting.
   */
  #watch(t: TaskRecord, nowMs: number): void {
    if (t.status !== 'running') return this.#due.delete(t.id);
    const history = this.#history.get(t.type);
    const usualGap = this.#history.gaps.usual(t.type, stageKey(t));
    const at = assessHealth(t, history, nowMs, this.#config.health, usualGap) !== (t.health ?? 'ok') ? nowMs : healthDeadline(t, history, this.#config.health, usualGap, nowMs);
    if (at === null) this.#due.delete(t.id);
    else this.#due.set(t.id, at);
  }

  /**
   * Runs a unit of work in one store write. What it learnt (stage durations, report gaps) reaches
   * the in-memory history only once the unit is durable: an undone unit must not skew the ETA.
   */
  async #write<T>(fn: (tx: WriteTx, later: (() => void)[]) => Promise<T>, options?: WriteOptions): Promise<T> {
    const later: (() => void)[] = [];
    const out = await this.#store.write((tx) => {
      later.length = 0; // a unit the store runs again starts clean
      return fn(tx, later);
    }, options);
    for (const f of later) f();
    return out;
  }

  async #finishWith(id: string, fn: (r: TaskRecord, nowMs: number) => Change): Promise<Task> {
    const r = await this.#write(async (tx, later) => {
      const rec = await this.#mustGet(tx, id);
      const nowMs = this.#now();
      const change = fn(rec, nowMs);
      await this.#apply(tx, change, nowMs, later);
      return change.task;
    });
    return this.present(r);
  }

  async #mustGet(tx: WriteTx, id: string): Promise<TaskRecord> {
    const r = await tx.getTask(id);
    if (!r) throw new TaskPulseError('not_found', `no task ${id}`);
    return r;
  }

  /**
   * Applies one change in the open transaction: the task event (which fixes the task's `seq`),
   * the row, its log line, stage history, the parent's counts and the owner's notification.
   * Returns the last seq appended (or the task's seq when nothing was).
   */
  async #apply(tx: WriteTx, ch: Change, nowMs: number, later: (() => void)[], insert?: { scope?: string; key?: string; fingerprint?: string }): Promise<number> {
    const t = ch.task;
    let seq = t.seq;
    if (ch.event) {
      const queue = t.status === 'queued' ? this.#queueInfo(t, await tx.queuePosition(t)) : null;
      const eta = estimate(t, this.#history.get(t.type), nowMs);
      if (t.status === 'running') later.push(() => this.#etaSaid.sample(t, eta, nowMs));
      // The wire task carries the seq the append assigns; the record takes it from the append's answer.
      const ev = await tx.appendEvent(
        this.#event(ch.event, t, ch.milestone, nowMs, (s) => {
          const task = model.toTask(t, { eta, queue });
          task.seq = s;
          return { task };
        }),
      );
      t.seq = seq = ev.seq;
    }
    if (insert) {
      await tx.insertTask(t, insert.key ? { scope: insert.scope!, key: insert.key, fingerprint: insert.fingerprint! } : undefined);
    } else {
      await tx.updateTask(t);
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
      later.push(() => this.#history.add(run));
    }
    if (ch.event) later.push(() => this.#watch(t, nowMs));
    if (t.status === 'running' || ch.transition?.from === 'running') later.push(() => this.#track(t, nowMs));
    if (ch.transition && t.parentId) {
      const parent = await tx.getTask(t.parentId);
      if (parent) await this.#apply(tx, model.childTransition(parent, ch.transition.from, ch.transition.to, nowMs), nowMs, later);
    }
    if (ch.transition && ch.transition.from === 'running') {
      // Scored with the completion, in its transaction; forgotten once that is durable.
      if (ch.transition.to === 'completed') await tx.recordEtaChecks(this.#etaSaid.score(t, nowMs));
      later.push(() => this.#etaSaid.forget(t.id));
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

  /** Keeps the running set of `t`'s type current after a change this instance applied. */
  #track(t: TaskRecord, nowMs: number): void {
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

  /** The most tasks of a type seen running at once over the last 5–10 minutes (two windows). */
  #notePeak(type: string, count: number, nowMs: number): number {
    const window = Math.floor(nowMs / PEAK_WINDOW_MS);
    let p = this.#peak.get(type);
    if (!p) {
      if (this.#peak.size >= 10_000) this.#peak.delete(this.#peak.keys().next().value!);
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

  /**
   * Position and expected wait of a queued task: its type's workers free up when their running
   * tasks end (by those tasks' ETAs) and then every mean run of the type; idle workers seen
   * lately take it at once (eta/queue-wait.ts).
   */
  #queueInfo(t: TaskRecord, position: number): Task['queue'] {
    const nowMs = this.#now();
    const cached = this.#waits.get(t.type);
    let waits = cached && nowMs - cached.atMs < 1000 && cached.waits.length >= position ? cached.waits : null;
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
      if (this.#waits.size >= 10_000) this.#waits.delete(this.#waits.keys().next().value!);
      this.#waits.set(t.type, { atMs: nowMs, waits });
    }
    return { position, estimatedWaitMs: Math.round(waits[position - 1]!) };
  }
}

/** Workers of a type are those seen running it at once within the last 5–10 minutes. */
const PEAK_WINDOW_MS = 5 * 60_000;

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

/** The key of the stage a task is in (or the whole task), as history and report gaps know it. */
function stageKey(r: TaskRecord): string {
  return r.stageIndex >= 0 && r.stages.length > 0 ? r.stages[r.stageIndex]!.key : WHOLE_TASK;
}

function leaseOf(r: TaskRecord): Lease {
  return { token: r.lease!.token, expiresAt: model.iso(r.lease!.expiresAtMs) };
}
