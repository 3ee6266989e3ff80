/**
 * `@taskpulse/worker`: run background tasks and report their progress to TaskPulse.
 *
 * - {@link createWorker} claims tasks and runs a handler for each.
 * - {@link createReporter} reports on tasks another queue runs (see also `@taskpulse/worker/bullmq`).
 */
export { createWorker, type Handler, type Worker, type WorkerOptions, type WorkerState, type WorkerStateChange, type WorkerStateReason, type WorkerStats } from './worker.ts';
export { createReporter, type Reporter, type ReporterOptions, type ReportedTask } from './reporter.ts';
export type { ChildTaskOptions, CreateTaskOptions, StageSpec, Task, TaskContext, LogLevel } from './context.ts';
export { WorkerError, UnrecoverableError, WORKER_ERROR_CODES, isWorkerError, type WorkerErrorCode, type WorkerErrorOptions } from './errors.ts';
export { DEFAULTS, CONSOLE_LOGGER, type ConnectionOptions, type Logger } from './options.ts';
export type { FetchLike } from './http.ts';
export type { Timers } from './timers.ts';
export type { EngineStats } from './engine.ts';
export type { TaskFailure, RunState, TaskRun, HandlerOutcome } from './task-run.ts';
export { Coalescer, type ReportPatch, type TakenReport } from './coalescer.ts';
export { fullJitterMs, retryDelayMs, isRetryableStatus, parseRetryAfterMs, type BackoffOptions } from '@taskpulse/protocol/retry';
