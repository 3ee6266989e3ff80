/**
 * A stable key for a `watchTasks` filter, so `useTasks({status: 'active'})` written inline
 * (a new object every render) keeps the same view, and a real change opens a new one.
 */
import type { TaskFilter } from '@taskpulse/client';

/** The filter of `useTasks`: a task filter plus the first page's size. */
export type TasksFilter = TaskFilter & { limit?: number };

const FIELDS = ['status', 'type', 'tag', 'parentId', 'owner', 'limit'] as const;

/**
 * The same string for filters that select the same tasks: field order, `undefined` fields and
 * the order of a status list do not matter.
 */
export function filterKey(filter: TasksFilter = {}): string {
  const parts: Array<[string, unknown]> = [];
  for (const field of FIELDS) {
    const value = filter[field];
    if (value === undefined) continue;
    parts.push([field, Array.isArray(value) ? [...new Set(value as string[])].sort() : value]);
  }
  return JSON.stringify(parts);
}
