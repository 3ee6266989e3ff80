/**
 * The storage interface. SQLite (embedded, default) and PostgreSQL implement it; one conformance
 * suite runs against both. Storage is the truth: the bus only wakes readers sooner.
 *
 * Writes go through `write(fn)`: `fn` runs inside a transaction with a `WriteTx`; everything it
 * does commits together, and the events it appended are handed to `onCommit` listeners in `seq`
 * order after the commit. A throw inside `fn` undoes that unit only. Implementations may group
 * many units into one commit (group commit), but a promise resolves only once its unit is durable.
 */
import type { AttemptInfo, Children, EventType, LogLevel, Notification, Stage, TaskError, TaskStatus, Health, ApiKeyInfo, Role } from '@taskpulse/protocol';
import type { SortSpec } from './task-sort.ts';

export type MaybePromise<T> = T | Promise<T>;

/** A task as stored. The public `Task` is derived from it (plus `eta`/`queue`, computed on read). */
export interface TaskRecord {
  id: string;
  type: string;
  owner: string;
  tags: string[];
  parentId: string | null;
  children: Children;
  status: TaskStatus;
  attempt: number;
  maxAttempts: number;
  done: number | null;
  total: number | null;
  percent: number | null;
  /** Index into `stages` of the current stage, -1 before any. */
  stageIndex: number;
  stages: Stage[];
  message: string | null;
  input: unknown;
  result: unknown;
  error: TaskError | null;
  metadata: Record<string, unknown>;
  cancelRequested: boolean;
  health: Health | null;
  createdAt: string;
  startedAt: string | null;
  updatedAt: string;
  endedAt: string | null;
  heartbeatAt: string | null;
  seq: number;
  /**
   * The running attempt's lease. `leaseMs` is the length chosen at claim (or by the latest report
   * that set one): renewals keep it. Leases stored before it was recorded lack it.
   */
  lease: { token: string; expiresAtMs: number; leaseMs?: number } | null;
  /** When `done`/`stage` last moved (ms), and the smoothed gap between such moves: for `health`. */
  lastMoveAtMs: number | null;
  moveGapMs: number | null;
  /** When the current stage started (ms), for stage durations and ETA. */
  stageStartedAtMs: number | null;
  /** When the current attempt started (ms). */
  attemptStartedAtMs?: number | null;
  /** Earlier attempts, oldest first (kept in the document: no column, no migration). */
  attempts?: AttemptInfo[];
}

/** An appended event: the wire JSON plus the fields readers filter on. */
export interface StoredEvent {
  seq: number;
  type: EventType;
  at: string;
  taskId: string | null;
  owner: string;
  taskType: string | null;
  parentId: string | null;
  tags: string[];
  /** Never coalesced away on a lagging stream (creation, stage change, terminal, log, notification). */
  milestone: boolean;
  /** The event as sent on the wire, serialized once. */
  json: string;
}

/** What a unit of work asks to append; the store assigns `seq` and serializes. */
export interface NewEvent {
  type: EventType;
  at: string;
  owner: string;
  taskId: string | null;
  taskType: string | null;
  parentId: string | null;
  tags: string[];
  milestone: boolean;
  /** Builds the body (everything but `seq`, `type`, `at`, `taskId`) once `seq` is known. */
  body: (seq: number) => Record<string, unknown>;
}

export interface TaskFilter {
  ids?: string[];
  statuses?: TaskStatus[];
  type?: string;
  tag?: string;
  owner?: string;
  parentId?: string;
  /**
   * Free-text search: the task's id, owner or type equal to it, or the text anywhere in the
   * stored task (message, input, result, error, tags, metadata), case-insensitive.
   */
  q?: string;
  /** Created at or after / before these ISO 8601 instants. */
  createdFrom?: string;
  createdTo?: string;
}

/** A finished task, as the history views of the stats page need it. */
export interface FinishedTask {
  type: string;
  status: 'completed' | 'failed' | 'canceled';
  endedAt: string;
  errorCode: string | null;
  errorMessage: string | null;
}

export interface EventFilter {
  owner?: string;
  taskIds?: string[];
  taskId?: string;
  tag?: string;
  type?: string;
  parentId?: string;
  events?: EventType[];
}

export interface StageRun {
  type: string;
  stage: string;
  durationMs: number;
  size: number | null;
  endedAtMs: number;
}

/**
 * How right the ETA of one completed task was at one checkpoint (eta/calibration.ts).
 * `error` and `inside` are null when the task had no ETA then.
 */
export interface EtaCheck {
  type: string;
  endedAtMs: number;
  /** Percent of the task's true duration: 10, 25, 50, 75 or 90. */
  checkpoint: number;
  /** |shown − true remaining| / true remaining. */
  error: number | null;
  /** Whether the true remaining time was inside [lowMs, highMs]. */
  inside: boolean | null;
  /** (highMs − lowMs) / true remaining. */
  width: number | null;
  /**
   * Where the truth fell against the model's own band (before calibration widened it): ln(truth /
   * the model's median) over its log half-width, so inside that band within ±1 (eta/calibration.ts).
   * Null or absent when not known.
   */
  reach?: number | null;
}

export interface KeyRecord extends ApiKeyInfo {
  hash: string;
}

export interface WriteTx {
  getTask(id: string): MaybePromise<TaskRecord | null>;
  insertTask(task: TaskRecord, idempotency?: { scope: string; key: string; fingerprint: string }): MaybePromise<void>;
  updateTask(task: TaskRecord): MaybePromise<void>;
  findIdempotent(scope: string, key: string): MaybePromise<{ taskId: string; fingerprint: string } | null>;
  /** The oldest queued task of one of `types` (any type when empty), or null. */
  nextQueued(types: string[]): MaybePromise<TaskRecord | null>;
  /** Running tasks whose lease expired before `nowMs`. */
  expiredLeases(nowMs: number, limit: number): MaybePromise<TaskRecord[]>;
  /** Position (1-based) of a queued task among the queued tasks of its type. */
  queuePosition(task: TaskRecord): MaybePromise<number>;
  appendEvent(event: NewEvent): MaybePromise<StoredEvent>;
  insertLog(taskId: string, seq: number, at: string, level: LogLevel, message: string): MaybePromise<void>;
  insertNotification(n: Notification): MaybePromise<void>;
  /** Marks unread notifications of `owner` read; returns the ids changed. */
  markNotificationsRead(owner: string, sel: { ids?: string[]; upToSeq?: number }, readAt: string): MaybePromise<string[]>;
  recordStageRun(run: StageRun): MaybePromise<void>;
  recordEtaChecks(checks: readonly EtaCheck[]): MaybePromise<void>;
}

export interface Page<T> {
  items: T[];
  nextCursor: string | null;
}

/** Hints for one unit of work. */
export interface WriteOptions {
  /**
   * Task ids the unit will read with `tx.getTask`: a store that pays a round trip per read
   * (PostgreSQL) loads every unit's tasks of a batch in one query. Only a hint.
   */
  tasks?: readonly string[];
  /**
   * The unit writes only through `tx` and may be run again from the start (its effects outside
   * the store wait until it resolves). A store may then skip its per-unit savepoint: should the
   * unit fail after writing, the store undoes the whole batch and runs it again with savepoints.
   */
  pure?: boolean;
}

/**
 * The store: the write path (`write`, `onCommit`) and one sub-store per concern, as
 * `store.tasks.get(id)`, `store.events.read(…)`. Every engine folder (`sqlite/`, `postgres/`)
 * has one file per sub-store.
 */
export interface Store {
  readonly kind: 'sqlite' | 'postgres';
  write<T>(fn: (tx: WriteTx) => MaybePromise<T>, options?: WriteOptions): Promise<T>;
  /** Called after each commit with the events it appended, in `seq` order. */
  onCommit(listener: (events: StoredEvent[]) => void): () => void;

  /** The event log: reading, its head and floor, pruning. */
  readonly events: EventStore;
  /** Tasks as stored: lookups, lists, counts, the stream's snapshot, task logs. */
  readonly tasks: TaskStore;
  /** API keys. */
  readonly keys: KeyStore;
  /** Server settings (e.g. the generated viewer-token secret). */
  readonly settings: SettingStore;
  /** The owners' notification inboxes. */
  readonly notifications: NotificationStore;
  /** What finished: stage runs, ETA scores and finished tasks, for ETAs and /v1/stats. */
  readonly history: HistoryStore;
  /** Webhook subscriptions and their delivery outbox. */
  readonly webhooks: WebhookStore;

  ping(): Promise<void>;
  close(): Promise<void>;
}

export interface EventStore {
  /** Events after `after` matching `filter`, oldest first, at most `limit`; `head` is read in the same snapshot. */
  read(after: number, filter: EventFilter, limit: number): Promise<{ events: StoredEvent[]; head: number }>;
  head(): Promise<number>;
  /** The smallest retained seq minus one: a cursor below it has missed pruned events. */
  floor(): Promise<number>;
  /** Deletes the events older than `beforeMs`, always keeping the head event; returns how many. */
  prune(beforeMs: number): Promise<number>;
}

export interface TaskStore {
  get(id: string): Promise<TaskRecord | null>;
  /**
   * A page of tasks in `sort` order (newest first by default); `cursor` continues the same sort.
   * A cursor this store did not hand out for this sort rejects with `StorageError` `invalid_cursor`.
   */
  list(filter: TaskFilter, limit: number, cursor: string | null, sort?: SortSpec): Promise<Page<TaskRecord>>;
  queuePosition(task: TaskRecord): Promise<number>;
  /** Counts by status for one type (or all), for queue estimates and stats. */
  countByStatus(type?: string): Promise<Record<TaskStatus, number>>;
  /** Counts by status of the tasks matching `filter` (the dashboard's filter bar). */
  count(filter: TaskFilter): Promise<Record<TaskStatus, number>>;
  /** Task counts per type and status (metrics). */
  countByTypeAndStatus(): Promise<{ type: string; status: TaskStatus; count: number }[]>;
  /** Active tasks matching the filter and the head they are consistent with. */
  snapshot(filter: TaskFilter, limit: number): Promise<{ head: number; tasks: TaskRecord[] }>;
  /** A task's log lines after `after` (a seq), oldest first. */
  logs(taskId: string, after: number, limit: number): Promise<{ seq: number; at: string; level: LogLevel; message: string }[]>;
}

export interface KeyStore {
  insert(key: KeyRecord): Promise<void>;
  list(): Promise<ApiKeyInfo[]>;
  findByHash(hash: string): Promise<KeyRecord | null>;
  /** Whether the key was live (and is now revoked). */
  revoke(id: string, at: string): Promise<boolean>;
  touch(id: string, at: string): Promise<void>;
}

export interface SettingStore {
  get(name: string): Promise<string | null>;
  /** Stores `value` unless a value is already there; returns the one stored (race-free across instances). */
  setIfAbsent(name: string, value: string): Promise<string>;
}

export interface NotificationStore {
  /** `owner`'s notifications, newest first. */
  list(owner: string, unreadOnly: boolean, limit: number): Promise<Notification[]>;
}

export interface HistoryStore {
  /** The latest stage runs of one type, newest first. */
  stageRuns(type: string, limit: number): Promise<StageRun[]>;
  /** Stage runs of every type (or one) that ended since `sinceMs`, for /v1/stats. */
  stageRunsSince(sinceMs: number, type: string | undefined, limit: number): Promise<StageRun[]>;
  /** ETA scores of tasks of every type (or one) that completed since `sinceMs`, for /v1/stats. */
  etaChecksSince(sinceMs: number, type: string | undefined, limit: number): Promise<EtaCheck[]>;
  /** The `reach` of one type's ETA scores since `sinceMs` that have one, newest first (band calibration). */
  etaReaches(type: string, sinceMs: number, limit: number): Promise<number[]>;
  /** Tasks that finished since `sinceMs` (newest first, at most `limit`), for throughput and failure history. */
  finishedSince(sinceMs: number, type: string | undefined, limit: number): Promise<FinishedTask[]>;
}

export interface Webhook {
  id: string;
  url: string;
  events: EventType[];
  secret: string;
  createdAt: string;
  /** Every event up to this seq has been turned into deliveries. */
  cursor: number;
}

export type DeliveryStatus = 'pending' | 'delivered' | 'failed';

export interface Delivery {
  id: number;
  webhookId: string;
  seq: number;
  event: EventType;
  payload: string;
  status: DeliveryStatus;
  attempts: number;
  nextAttemptAtMs: number;
  lastStatus: number | null;
  lastError: string | null;
  createdAt: string;
  deliveredAt: string | null;
}

export interface WebhookStore {
  create(w: Webhook): Promise<void>;
  list(): Promise<Webhook[]>;
  get(id: string): Promise<Webhook | null>;
  remove(id: string): Promise<boolean>;
  /** Durably queues deliveries for events and moves the webhook's cursor past them, atomically. */
  enqueue(webhookId: string, deliveries: { seq: number; event: EventType; payload: string }[], cursor: number, nowMs: number): Promise<void>;
  /** Pending deliveries whose next attempt is due. */
  due(nowMs: number, limit: number): Promise<Delivery[]>;
  record(id: number, outcome: { status: DeliveryStatus; attempts: number; nextAttemptAtMs: number; lastStatus: number | null; lastError: string | null; deliveredAt: string | null }): Promise<void>;
  deliveries(webhookId: string, limit: number): Promise<Delivery[]>;
}

export type { Role };
