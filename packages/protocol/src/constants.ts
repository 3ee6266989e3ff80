/**
 * The vocabulary as plain constants, with no zod: browser bundles import these from
 * `@taskpulse/protocol/constants` and stay small.
 */
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
