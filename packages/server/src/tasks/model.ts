/**
 * The task state machine as pure functions: each takes a stored task, a request and the time,
 * and returns the changed task plus what the change means (event type, milestone, log, stage
 * runs, status transition). No I/O; the service applies the result inside one store transaction.
 * A function throws a TaskPulseError when the request is not allowed and then changes nothing.
 */
import {
  TaskPulseError, childrenPercent, computePercent, isTerminal, monotonicPercent, LIMITS,
  type CreateTaskRequest, type EventType, type LogLevel, type TaskStatus, type Task, type Eta, type TaskError, type Children, type AttemptInfo,
} from '@taskpulse/protocol';
import type { StageRun, TaskRecord } from '../store/store.ts';
import { QUEUE_WAIT, WHOLE_TASK } from '../eta/eta.ts';
import { iso } from './iso.ts';

export { iso };

export interface Change {
  task: TaskRecord;
  /** The task event to append, or null when nothing a reader sees changed (a lease renewal). */
  event: EventType | null;
  milestone: boolean;
  log?: { level: LogLevel; message: string };
  stageRuns: StageRun[];
  /** Set when the status changed: parents' children counts and notifications follow it. */
  transition?: { from: TaskStatus; to: TaskStatus };
}

export const EMPTY_CHILDREN: Children = Object.freeze({ total: 0, queued: 0, running: 0, completed: 0, failed: 0, canceled: 0 });

export function newTask(req: CreateTaskRequest, id: string, nowMs: number, lease: { token: string; leaseMs: number } | null): TaskRecord {
  const now = iso(nowMs);
  const task: TaskRecord = {
    id,
    type: req.type,
    owner: req.owner,
    tags: req.tags ?? [],
    parentId: req.parentId ?? null,
    children: { ...EMPTY_CHILDREN },
    status: 'queued',
    attempt: 0,
    maxAttempts: req.maxAttempts ?? 3,
    done: null,
    total: null,
    percent: null,
    stageIndex: -1,
    stages: (req.stages ?? []).map((s) => ({
      key: s.key, label: s.label ?? s.key, weight: s.weight ?? 1, status: 'pending', startedAt: null, endedAt: null,
    })),
    message: null,
    input: req.input ?? null,
    result: null,
    error: null,
    metadata: req.metadata ?? {},
    cancelRequested: false,
    health: null,
    createdAt: now,
    startedAt: null,
    updatedAt: now,
    endedAt: null,
    heartbeatAt: null,
    seq: 0,
    lease: null,
    lastMoveAtMs: null,
    moveGapMs: null,
    stageStartedAtMs: null,
  };
  return lease ? claim(task, lease.token, lease.leaseMs, nowMs).task : task;
}

/** A worker takes a queued task: a new attempt starts with fresh progress. */
export function claim(prev: TaskRecord, token: string, leaseMs: number, nowMs: number): Change {
  const now = iso(nowMs);
  const task: TaskRecord = {
    ...prev,
    status: 'running',
    attempt: prev.attempt + 1,
    error: null,
    lease: { token, expiresAtMs: nowMs + leaseMs, leaseMs },
    startedAt: prev.startedAt ?? now,
    heartbeatAt: now,
    updatedAt: now,
    done: null,
    total: null,
    percent: null,
    message: null,
    health: 'ok',
    lastMoveAtMs: nowMs,
    moveGapMs: null,
    stageIndex: -1,
    stageStartedAtMs: nowMs,
    attemptStartedAtMs: nowMs,
    stages: prev.stages.map((s) => ({ ...s, status: 'pending', startedAt: null, endedAt: null })),
  };
  if (task.stages.length > 0) enterStage(task, 0, nowMs);
  task.percent = percentOf(task, null);
  const waited = prev.attempt === 0 ? [{ type: task.type, stage: QUEUE_WAIT, durationMs: nowMs - Date.parse(prev.createdAt), size: null, endedAtMs: nowMs }] : [];
  return { task, event: 'task.updated', milestone: true, stageRuns: waited, transition: { from: prev.status, to: 'running' } };
}

export interface ProgressUpdate {
  lease: string;
  done?: number;
  total?: number;
  message?: string | null;
  stage?: string;
  metadata?: Record<string, unknown>;
  log?: string | { level?: LogLevel; message: string };
  leaseMs?: number;
}

/** Throws unless `token` is the running attempt's live lease. */
export function checkLease(task: TaskRecord, token: string, nowMs: number): void {
  if (isTerminal(task.status)) throw new TaskPulseError('task_finished', `task ${task.id} is already ${task.status}`);
  if (task.status !== 'running' || !task.lease || task.lease.token !== token) {
    throw new TaskPulseError('lease_lost', 'this lease is not the task\'s current one: another attempt owns the task');
  }
  if (task.lease.expiresAtMs < nowMs) throw new TaskPulseError('lease_lost', 'this lease expired; the task will be retried');
}

/**
 * The renewed lease: the length a report asks for, else the one chosen at claim, else (a lease
 * stored before lengths were recorded) `defaultMs`. A length asked for is kept from then on.
 */
export function renewLease(lease: NonNullable<TaskRecord['lease']>, requestedMs: number | undefined, defaultMs: number, nowMs: number): NonNullable<TaskRecord['lease']> {
  const leaseMs = requestedMs ?? lease.leaseMs ?? defaultMs;
  return { token: lease.token, expiresAtMs: nowMs + leaseMs, leaseMs };
}

/** A progress report; `defaultLeaseMs` renews a lease that recorded no length of its own. */
export function progress(prev: TaskRecord, u: ProgressUpdate, defaultLeaseMs: number, nowMs: number): Change {
  checkLease(prev, u.lease, nowMs);
  const now = iso(nowMs);
  // Copied, then set: V8 clones `{ ...prev }` on a fast path, but `{ ...prev, lease, heartbeatAt }`
  // took ~2.6× as long (1.5 µs against 0.56 for a record, 2 cores under load). Same keys, same order.
  const task: TaskRecord = { ...prev };
  task.lease = renewLease(prev.lease!, u.leaseMs, defaultLeaseMs, nowMs);
  task.heartbeatAt = now;
  const stageRuns: StageRun[] = [];
  let changed = false;
  let milestone = false;
  let moved = false;

  if (u.stage !== undefined && (task.stageIndex < 0 || task.stages[task.stageIndex]!.key !== u.stage)) {
    // Copied only when they change: the stages of `prev` are never changed in place.
    task.stages = prev.stages.map((s) => ({ ...s }));
    let index = task.stages.findIndex((s) => s.key === u.stage);
    if (index < 0) {
      if (task.stages.length >= LIMITS.stages) {
        throw new TaskPulseError('invalid_request', `a task has at most ${LIMITS.stages} stages`, { fields: ['stage'] });
      }
      task.stages.push({ key: u.stage, label: u.stage, weight: 1, status: 'pending', startedAt: null, endedAt: null });
      index = task.stages.length - 1;
    }
    const run = leaveStage(task, 'completed', nowMs);
    if (run) stageRuns.push(run);
    for (let i = 0; i < index; i++) if (task.stages[i]!.status === 'pending') task.stages[i]!.status = 'skipped';
    enterStage(task, index, nowMs);
    changed = milestone = moved = true;
  }
  if (u.total !== undefined && u.total !== task.total) {
    task.total = u.total;
    changed = true;
  }
  if (u.done !== undefined && u.done !== task.done) {
    task.done = u.done;
    changed = moved = true;
  }
  if (task.done !== null && task.total !== null && task.done > task.total) {
    throw new TaskPulseError('invalid_request', `done (${task.done}) must not exceed total (${task.total})`, { fields: ['done'] });
  }
  if (u.message !== undefined && u.message !== task.message) {
    task.message = u.message;
    changed = true;
  }
  if (u.metadata !== undefined) {
    task.metadata = { ...task.metadata, ...u.metadata };
    if (Buffer.byteLength(JSON.stringify(task.metadata)) > LIMITS.metadataBytes) {
      throw new TaskPulseError('payload_too_large', `metadata must stay within ${LIMITS.metadataBytes} bytes`, { fields: ['metadata'] });
    }
    changed = true;
  }
  if (moved) {
    if (task.lastMoveAtMs !== null) {
      const gap = nowMs - task.lastMoveAtMs;
      task.moveGapMs = task.moveGapMs === null ? gap : task.moveGapMs * 0.7 + gap * 0.3;
    }
    task.lastMoveAtMs = nowMs;
    if (task.health === 'stuck') task.health = 'ok';
  }
  if (changed) {
    task.percent = percentOf(task, prev.percent);
    task.updatedAt = now;
  }
  const log = u.log === undefined ? undefined : typeof u.log === 'string' ? { level: 'info' as const, message: u.log } : { level: u.log.level ?? 'info', message: u.log.message };
  return { task, event: changed ? 'task.updated' : null, milestone, stageRuns, log };
}

/** Renews the lease only (see `renewLease` for its length). */
export function heartbeat(prev: TaskRecord, token: string, leaseMs: number | undefined, defaultLeaseMs: number, nowMs: number): Change {
  checkLease(prev, token, nowMs);
  const task: TaskRecord = { ...prev }; // then set: see `progress`
  task.lease = renewLease(prev.lease!, leaseMs, defaultLeaseMs, nowMs);
  task.heartbeatAt = iso(nowMs);
  return { task, event: null, milestone: false, stageRuns: [] };
}

export function complete(prev: TaskRecord, token: string, result: unknown, nowMs: number): Change {
  checkLease(prev, token, nowMs);
  const task = finish(prev, 'completed', nowMs);
  const stageRun = leaveStage(task, 'completed', nowMs);
  const started = task.attemptStartedAtMs ?? (task.stages.length === 0 ? task.stageStartedAtMs : null);
  const whole = started != null ? { type: task.type, stage: WHOLE_TASK, durationMs: nowMs - started, size: task.stages.length === 0 ? task.total : null, endedAtMs: nowMs } : null;
  for (const s of task.stages) if (s.status === 'pending') s.status = 'skipped';
  task.result = result ?? null;
  task.percent = 100;
  if (task.total !== null) task.done = task.total;
  const stageRuns = [stageRun, whole].filter((r): r is StageRun => r !== null);
  return { task, event: 'task.completed', milestone: true, stageRuns, transition: { from: prev.status, to: 'completed' } };
}

export function fail(prev: TaskRecord, token: string, error: TaskError, retry: boolean, nowMs: number): Change {
  checkLease(prev, token, nowMs);
  const canceled = prev.cancelRequested || error.code === 'canceled';
  if (!canceled && retry && prev.attempt < prev.maxAttempts) return requeue(prev, error, nowMs);
  const status = canceled ? 'canceled' : 'failed';
  const task = finish(prev, status, nowMs);
  leaveStage(task, 'failed', nowMs);
  task.error = canceled ? { code: 'canceled', message: error.message || 'canceled on request' } : { ...error, code: error.code ?? 'error' };
  return { task, event: canceled ? 'task.canceled' : 'task.failed', milestone: true, stageRuns: [], transition: { from: prev.status, to: status } };
}

/** Cancel: a queued task ends at once; a running one is asked to stop on its next report. */
export function cancel(prev: TaskRecord, nowMs: number): Change {
  if (isTerminal(prev.status)) throw new TaskPulseError('task_finished', `task ${prev.id} is already ${prev.status}`);
  if (prev.status === 'queued') {
    const task = finish(prev, 'canceled', nowMs);
    task.error = { code: 'canceled', message: 'canceled before it started' };
    return { task, event: 'task.canceled', milestone: true, stageRuns: [], transition: { from: 'queued', to: 'canceled' } };
  }
  if (prev.cancelRequested) return { task: prev, event: null, milestone: false, stageRuns: [] };
  return { task: { ...prev, cancelRequested: true, updatedAt: iso(nowMs) }, event: 'task.updated', milestone: true, stageRuns: [] };
}

/** The reaper found the lease expired: retry while attempts remain, else fail as stalled. */
export function expire(prev: TaskRecord, nowMs: number): Change {
  const error = { code: 'stalled', message: `the worker stopped renewing its lease (attempt ${prev.attempt} of ${prev.maxAttempts})` };
  if (prev.cancelRequested) {
    const task = finish(prev, 'canceled', nowMs);
    task.error = { code: 'canceled', message: 'canceled; the worker stopped before confirming' };
    return { task, event: 'task.canceled', milestone: true, stageRuns: [], transition: { from: prev.status, to: 'canceled' } };
  }
  if (prev.attempt < prev.maxAttempts) return requeue(prev, error, nowMs);
  const task = finish(prev, 'failed', nowMs);
  leaveStage(task, 'failed', nowMs);
  task.error = error;
  return { task, event: 'task.failed', milestone: true, stageRuns: [], transition: { from: prev.status, to: 'failed' } };
}

/** A child moved from one status to another (or was created: `from` null). */
export function childTransition(prev: TaskRecord, from: TaskStatus | null, to: TaskStatus, nowMs: number): Change {
  const children = { ...prev.children };
  if (from === null) children.total += 1;
  else children[from] = Math.max(0, children[from] - 1);
  children[to] += 1;
  const task: TaskRecord = { ...prev, children, updatedAt: iso(nowMs) };
  task.percent = percentOf(task, prev.percent);
  return { task, event: 'task.updated', milestone: false, stageRuns: [] };
}

export function setHealth(prev: TaskRecord, health: TaskRecord['health'], nowMs: number): Change {
  return { task: { ...prev, health, updatedAt: iso(nowMs) }, event: 'task.updated', milestone: false, stageRuns: [] };
}

/** The public shape of a stored task. `eta` and `queue` are computed by the caller when read. */
export function toTask(r: TaskRecord, extras: { eta: Eta | null; queue: Task['queue'] }): Task {
  const stage = r.stageIndex >= 0 ? r.stages[r.stageIndex] : undefined;
  return {
    id: r.id,
    type: r.type,
    owner: r.owner,
    tags: r.tags,
    parentId: r.parentId,
    children: r.children,
    status: r.status,
    attempt: r.attempt,
    maxAttempts: r.maxAttempts,
    progress: { done: r.done, total: r.total, percent: r.percent },
    stage: stage ? { key: stage.key, label: stage.label, index: r.stageIndex, count: r.stages.length } : null,
    stages: r.stages,
    message: r.message,
    eta: extras.eta,
    health: r.status === 'running' ? r.health ?? 'ok' : null,
    queue: extras.queue,
    input: r.input,
    result: r.result,
    error: r.error,
    metadata: r.metadata,
    cancelRequested: r.cancelRequested,
    createdAt: r.createdAt,
    startedAt: r.startedAt,
    updatedAt: r.updatedAt,
    endedAt: r.endedAt,
    heartbeatAt: r.heartbeatAt,
    seq: r.seq,
    attempts: r.attempts ?? [],
  };
}

// ---------------------------------------------------------------- helpers

/** At most this many earlier attempts are kept in a task. */
export const MAX_ATTEMPT_HISTORY = 20;

/** The attempt that just ended, appended to the task's history. */
function withAttempt(prev: TaskRecord, status: TaskStatus, error: TaskError | null, endedAt: string): AttemptInfo[] {
  const started = prev.attemptStartedAtMs ?? null;
  const entry: AttemptInfo = { attempt: prev.attempt, status, error, startedAt: started === null ? prev.startedAt : iso(started), endedAt };
  return [...(prev.attempts ?? []), entry].slice(-MAX_ATTEMPT_HISTORY);
}

/**
 * Staff retry: a failed or canceled task is queued again for a new attempt. Its earlier attempt
 * is kept in `attempts` (and in the event log); progress, result and error start afresh.
 */
export function retry(prev: TaskRecord, nowMs: number): Change {
  if (prev.status !== 'failed' && prev.status !== 'canceled') {
    throw new TaskPulseError('conflict', `only a failed or canceled task can be retried; task ${prev.id} is ${prev.status}`);
  }
  const now = iso(nowMs);
  const task: TaskRecord = {
    ...prev,
    status: 'queued',
    // A retry is one more attempt, even when the task had used up its budget.
    maxAttempts: Math.max(prev.maxAttempts, prev.attempt + 1),
    attempts: withAttempt(prev, prev.status, prev.error, prev.endedAt ?? now),
    lease: null,
    error: null,
    result: null,
    cancelRequested: false,
    health: null,
    endedAt: null,
    updatedAt: now,
    done: null,
    total: null,
    percent: null,
    message: null,
    stageIndex: -1,
    stageStartedAtMs: null,
    stages: prev.stages.map((s) => ({ ...s, status: 'pending', startedAt: null, endedAt: null })),
  };
  return {
    task, event: 'task.updated', milestone: true, stageRuns: [],
    log: { level: 'info', message: `retry requested: attempt ${prev.attempt + 1} queued` },
    transition: { from: prev.status, to: 'queued' },
  };
}

function requeue(prev: TaskRecord, error: TaskError, nowMs: number): Change {
  const task: TaskRecord = {
    ...prev,
    status: 'queued',
    lease: null,
    error,
    health: null,
    updatedAt: iso(nowMs),
    attempts: withAttempt(prev, 'failed', error, iso(nowMs)),
    stages: prev.stages.map((s) => ({ ...s })),
  };
  leaveStage(task, 'failed', nowMs);
  return { task, event: 'task.updated', milestone: true, stageRuns: [], transition: { from: prev.status, to: 'queued' } };
}

function finish(prev: TaskRecord, status: TaskStatus, nowMs: number): TaskRecord {
  const now = iso(nowMs);
  return {
    ...prev,
    status,
    lease: null,
    health: null,
    endedAt: now,
    updatedAt: now,
    stages: prev.stages.map((s) => ({ ...s })),
  };
}

function enterStage(task: TaskRecord, index: number, nowMs: number): void {
  const stage = task.stages[index]!;
  stage.status = 'running';
  stage.startedAt = iso(nowMs);
  stage.endedAt = null;
  task.stageIndex = index;
  task.stageStartedAtMs = nowMs;
  task.done = null;
  task.total = null;
}

/** Ends the current stage (mutates `task`); returns its run for the duration history when it completed. */
function leaveStage(task: TaskRecord, status: 'completed' | 'failed', nowMs: number): StageRun | null {
  if (task.stageIndex < 0) return null;
  const stage = task.stages[task.stageIndex]!;
  if (stage.status !== 'running') return null;
  stage.status = status;
  stage.endedAt = iso(nowMs);
  if (status !== 'completed' || task.stageStartedAtMs === null) return null;
  return { type: task.type, stage: stage.key, durationMs: nowMs - task.stageStartedAtMs, size: task.total, endedAtMs: nowMs };
}

const NO_WEIGHTS: readonly number[] = Object.freeze([]);
/** Stage weights by stages array: a task's stages are replaced, never changed in place, when they change. */
const WEIGHTS = new WeakMap<readonly { weight: number }[], readonly number[]>();

function weightsOf(stages: readonly { weight: number }[]): readonly number[] {
  if (stages.length === 0) return NO_WEIGHTS;
  let w = WEIGHTS.get(stages);
  if (w === undefined) WEIGHTS.set(stages, (w = stages.map((s) => s.weight)));
  return w;
}

function percentOf(task: TaskRecord, previous: number | null): number | null {
  const own = computePercent({
    weights: weightsOf(task.stages),
    stageIndex: task.stageIndex,
    done: task.done,
    total: task.total,
  });
  // A parent that reports nothing of its own shows its children's progress. It is an aggregate,
  // so it may drop when children are added; everything else never goes backwards in an attempt.
  if (own === null && task.stages.length === 0 && task.children.total > 0) return childrenPercent(task.children);
  return monotonicPercent(previous, own);
}

/** How much of a result's text a notification repeats. */
const NOTIFICATION_BODY_CHARS = 200;

/**
 * The title and body of a finished task's notification. A completion is worded from the result
 * (a string, or its `message`/`summary` string) or neutrally — never from the last progress
 * message, which describes a stage that is over ("pdf-import finished — Fetching").
 */
export function notificationText(t: Pick<TaskRecord, 'type' | 'status' | 'result' | 'error'>): { title: string; body: string } {
  if (t.status === 'completed') {
    const r = t.result as { message?: unknown; summary?: unknown } | string | null | undefined;
    const said = typeof r === 'string' ? r : r && typeof r === 'object' ? (typeof r.message === 'string' ? r.message : r.summary) : undefined;
    const body = typeof said === 'string' && said.trim() !== '' ? said.trim().slice(0, NOTIFICATION_BODY_CHARS) : 'Your task completed.';
    return { title: `${t.type} finished`, body };
  }
  if (t.status === 'failed') return { title: `${t.type} failed`, body: t.error?.message ?? 'Your task failed.' };
  return { title: `${t.type} was canceled`, body: t.error?.message ?? 'Your task was canceled.' };
}
