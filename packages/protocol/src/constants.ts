/**
 * The vocabulary as plain constants, with no zod: browser bundles import these from
 * `@taskpulse/protocol/constants` and stay small.
 */
/**
 * What a worker key may do (least privilege: a queue worker's key need not mint viewer tokens).
 * `tasks:write` create, cancel and report on tasks (with a lease); `tasks:claim` claim queued
 * tasks and report on the claimed ones; `tokens:mint` mint viewer tokens; `read` read tasks,
 * events, streams, logs and stats. Admin keys may do everything.
 */
export const SCOPES = ['tasks:write', 'tasks:claim', 'tokens:mint', 'read'] as const;

export const TASK_STATUSES = ['queued', 'running', 'completed', 'failed', 'canceled'] as const;
export const TERMINAL_STATUSES = ['completed', 'failed', 'canceled'] as const;

export const EVENT_TYPES = [
  'task.created',
  'task.updated',
  'task.completed',
  'task.failed',
  'task.canceled',
  'task.log',
  'notification.created',
  'notification.read',
] as const;

/** Task event types (everything but notifications). */
// Pure: bundlers drop it where unused (the browser client never reads it).
export const TASK_EVENT_TYPES = /* @__PURE__ */ EVENT_TYPES.filter((t) => t.startsWith('task.')) as readonly (typeof EVENT_TYPES)[number][];
