/**
 * The task service: the write operations. Each applies the pure state machine (`model.ts`) in a
 * unit of work (changes.ts: events, notifications, parent counts, stage history, ETA memory
 * after commit). Routes call it after validating and authenticating; it checks what a principal
 * may touch. Reads go through the task reader (reader.ts); the queue estimate, health and lease
 * reaping have modules of their own (queue.ts, health.ts, reaper.ts).
 */
import { TaskPulseError, type CreateTaskRequest, type FailRequest, type Lease, type Task } from '@taskpulse/protocol';
import { createHash } from 'node:crypto';
import type { Store, TaskRecord, WriteTx } from '../store/store.ts';
import { unavailableError } from '../http/errors.ts';
import { canSee, type Principal } from '../auth/principal.ts';
import { newId, randomToken } from '../ids.ts';
import type { TaskReader } from './reader.ts';
import type { AfterCommit, Changes } from './changes.ts';
import * as model from './model.ts';
import type { Change, ProgressUpdate } from './model.ts';

export interface TaskServiceConfig {
  /** Lease length when a worker does not ask for one at claim (renewals keep the claimed length). */
  leaseMs: number;
}

export interface TaskServiceDeps {
  store: Store;
  /** Applies changes in units of work. */
  changes: Changes;
  /** Presents the tasks the writes return (built first: the stream hub and the routes read through it too). */
  reader: TaskReader;
  /** Resolves when an event after `after` is committed, or on timeout (long-poll claims). */
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
  readonly #changes: Changes;
  readonly #reader: TaskReader;
  readonly #config: TaskServiceConfig;
  readonly #wait: TaskServiceDeps['waitForEvent'];
  readonly #now: () => number;
  #closing = false;

  constructor(config: TaskServiceConfig, deps: TaskServiceDeps) {
    this.#config = config;
    this.#store = deps.store;
    this.#changes = deps.changes;
    this.#reader = deps.reader;
    this.#wait = deps.waitForEvent;
    this.#now = deps.now ?? Date.now;
  }

  // ------------------------------------------------------------ writes

  async create(p: Principal, req: CreateTaskRequest, idempotencyKey: string | null): Promise<{ task: Task; lease: Lease | null; created: boolean }> {
    const scope = p.role === 'viewer' ? p.owner : p.role === 'staff' ? p.role : (p.keyId ?? p.role);
    const fingerprint = createHash('sha256').update(JSON.stringify(req)).digest('hex');
    const leaseMs = req.leaseMs ?? this.#config.leaseMs;
    const out = await this.#changes.write(async (tx, afterCommit) => {
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
      await this.#changes.apply(tx, change, nowMs, afterCommit, idempotencyKey === null ? {} : { scope, key: idempotencyKey, fingerprint });
      if (parent) await this.#changes.apply(tx, model.childTransition(parent, null, record.status, nowMs), nowMs, afterCommit);
      return { record, created: true };
    });
    // A replayed `start: true` gets the lease back while the attempt it started still runs:
    // the caller that lost the first answer can go on reporting.
    const replayable = out.record.status === 'running' && out.record.attempt === 1 && out.record.lease !== null;
    const lease = req.start && (out.created || replayable) && out.record.lease ? leaseOf(out.record) : null;
    return { task: await this.#reader.present(out.record), lease, created: out.created };
  }

  /** Claims the oldest queued task of `types`, waiting up to `waitMs` for one to appear. */
  async claim(types: string[], leaseMs: number | undefined, waitMs: number, signal?: AbortSignal): Promise<{ task: Task; lease: Lease } | null> {
    const deadline = this.#now() + waitMs;
    for (;;) {
      const headBefore = await this.#store.events.head();
      const claimed = await this.#changes.write(async (tx, afterCommit) => {
        const next = await tx.nextQueued(types);
        if (!next) return null;
        const nowMs = this.#now();
        const change = model.claim(next, randomToken('lse'), leaseMs ?? this.#config.leaseMs, nowMs);
        await this.#changes.apply(tx, change, nowMs, afterCommit);
        return change.task;
      });
      if (claimed) return { task: await this.#reader.present(claimed), lease: leaseOf(claimed) };
      const left = deadline - this.#now();
      if (left <= 0 || signal?.aborted || this.#closing) return null;
      await this.#wait(headBefore, left, signal);
    }
  }

  async progress(id: string, u: ProgressUpdate): Promise<ReportAnswer> {
    return this.#changes.write(async (tx, afterCommit) => {
      const r = await this.#mustGet(tx, id);
      const nowMs = this.#now();
      const change = model.progress(r, u, this.#config.leaseMs, nowMs);
      this.#observeMove(r, change, nowMs, afterCommit);
      return answer(change.task, await this.#changes.apply(tx, change, nowMs, afterCommit));
    }, { tasks: [id], pure: true });
  }

  /** A report that moved: how long the quiet lasted, in the stage it lasted in (the usual gap, for `stuck`). */
  #observeMove(r: TaskRecord, change: Change, nowMs: number, afterCommit: AfterCommit): void {
    if (r.lastMoveAtMs !== null && change.task.lastMoveAtMs !== r.lastMoveAtMs) this.#changes.observeGap(r, nowMs - r.lastMoveAtMs, afterCommit);
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
      return await this.#changes.write(async (tx, afterCommit) => {
        const out: BatchResult[] = [];
        for (const u of updates) {
          let r: TaskRecord | null;
          let change: Change;
          let nowMs: number;
          try {
            // Awaited only when the store answers later (SQLite answers from memory at once).
            const got = tx.getTask(u.id);
            r = got instanceof Promise ? await got : got;
            if (!r) throw notFound(u.id);
            nowMs = this.#now();
            change = model.progress(r, u, this.#config.leaseMs, nowMs);
          } catch (error) {
            if (!(error instanceof TaskPulseError)) throw error;
            out.push({ id: u.id, ok: false, error: { code: error.code, message: error.message } });
            continue;
          }
          // The model accepted it: only storage errors are thrown from here on.
          this.#observeMove(r, change, nowMs, afterCommit);
          const a = answer(change.task, await this.#changes.apply(tx, change, nowMs, afterCommit));
          out.push({ id: u.id, ok: true, seq: a.seq, cancelRequested: a.cancelRequested, lease: a.lease }); // not `...a`: 4× the cost
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
    const r = await this.#changes.write(async (tx, afterCommit) => {
      const rec = await tx.getTask(id);
      if (!rec || !canSee(p, rec)) throw new TaskPulseError('not_found', `no task ${id}`);
      const nowMs = this.#now();
      const change = model.cancel(rec, nowMs);
      await this.#changes.apply(tx, change, nowMs, afterCommit);
      return change.task;
    });
    return this.#reader.present(r);
  }

  /** Staff/admin: queue a failed or canceled task again as a new attempt (409 otherwise). */
  async retry(id: string): Promise<Task> {
    const r = await this.#changes.write(async (tx, afterCommit) => {
      const rec = await this.#mustGet(tx, id);
      const nowMs = this.#now();
      const change = model.retry(rec, nowMs);
      await this.#changes.apply(tx, change, nowMs, afterCommit);
      return change.task;
    });
    return this.#reader.present(r);
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

  /** Shutting down: long-poll claims answer 204 at once. */
  close(): void {
    this.#closing = true;
  }

  async #finishWith(id: string, fn: (r: TaskRecord, nowMs: number) => Change): Promise<Task> {
    const r = await this.#changes.write(async (tx, afterCommit) => {
      const rec = await this.#mustGet(tx, id);
      const nowMs = this.#now();
      const change = fn(rec, nowMs);
      await this.#changes.apply(tx, change, nowMs, afterCommit);
      return change.task;
    });
    return this.#reader.present(r);
  }

  async #mustGet(tx: WriteTx, id: string): Promise<TaskRecord> {
    const r = await tx.getTask(id);
    if (!r) throw notFound(id);
    return r;
  }
}

const notFound = (id: string) => new TaskPulseError('not_found', `no task ${id}`);

/** What a report is answered: its seq, whether to stop, and the renewed lease. */
function answer(t: TaskRecord, seq: number): ReportAnswer {
  return { seq, cancelRequested: t.cancelRequested, lease: { expiresAt: model.iso(t.lease!.expiresAtMs) } };
}

function leaseOf(r: TaskRecord): Lease {
  return { token: r.lease!.token, expiresAt: model.iso(r.lease!.expiresAtMs) };
}
