/** What a handler sees: the task and the calls that report on it. */
import type { Task } from '@taskpulse/protocol';
import type { LogLevel } from './coalescer.ts';

export type { Task } from '@taskpulse/protocol';
export type { LogLevel } from './coalescer.ts';

/** A stage as declared at creation. */
export interface StageSpec {
  /** Stable key, 1–128 chars. */
  key: string;
  /** Human label. @defaultValue the key */
  label?: string;
  /** Share of the whole task's percent. @defaultValue `1` */
  weight?: number;
}

/** A task to create (`POST /v1/tasks`). */
export interface CreateTaskOptions {
  /** Task type, 1–128 chars; workers claim by type. Required. */
  type: string;
  /** The end user it belongs to (a viewer token's `sub`), 1–128 chars. Required for top-level tasks. */
  owner: string;
  /** Input, any JSON value up to 512 KiB. */
  input?: unknown;
  /** Up to 20 tags of up to 100 chars. */
  tags?: string[];
  /** Stages in order, with weights for the percent. */
  stages?: StageSpec[];
  /** A JSON object up to 16 KiB. */
  metadata?: Record<string, unknown>;
  /** Parent task id (its `children` counts this task). */
  parentId?: string | null;
  /** Attempts before a failure is final, 1–100. @defaultValue `3` (server) */
  maxAttempts?: number;
  /** Replays with the same key return the first task instead of creating another. */
  idempotencyKey?: string;
}

/** A child task to create from a handler: the owner defaults to the parent's. */
export type ChildTaskOptions = Omit<CreateTaskOptions, 'owner' | 'parentId'> & { owner?: string };

/** The `ctx` a handler receives. Reports are coalesced and sent in the background; none of the calls block. */
export interface TaskContext {
  /** The task as it was when this attempt started. */
  readonly task: Task;
  /** Task id (shortcut for `task.id`). */
  readonly id: string;
  /**
   * Aborts when the task is canceled (reason code `canceled`, seen in the answer to the next
   * report or heartbeat), the lease is lost (`lease_lost`,
   * `lease_expired`, `task_finished`) or the worker shuts down past its deadline (`shutdown`).
   * The reason is a `WorkerError`.
   */
  readonly signal: AbortSignal;
  /**
   * Reports progress of the current stage (or of the whole task without stages). Latest value
   * wins; at most one send per `throttleMs`.
   * @param done units done, ≥ 0
   * @param total units in all, > 0 (omit to keep the previous total)
   * @param message a human line, up to 1,000 chars (omit to keep the previous one)
   */
  progress(done: number, total?: number, message?: string): void;
  /** Enters a stage (declared at creation, or appended with weight 1). Sent at once, in order. */
  stage(key: string): void;
  /** Appends a line to the task's log; never coalesced away. `message` up to 1,000 chars. */
  log(level: LogLevel, message: string): void;
  /** Merges `patch` into the task's metadata (latest value per key wins); sent with the next report. */
  setMetadata(patch: Record<string, unknown>): void;
  /**
   * Creates a child task (`parentId` = this task, owner = this task's owner unless given).
   * Give `idempotencyKey` (e.g. `${ctx.id}:item:${i}`) so a retried attempt does not duplicate it.
   */
  child(options: ChildTaskOptions, request?: { signal?: AbortSignal }): Promise<Task>;
  /** Resolves when every report made so far is durable on the server (or dropped because the lease is gone). */
  flush(): Promise<void>;
}
