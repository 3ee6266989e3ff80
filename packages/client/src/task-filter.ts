/** Which tasks a `watchTasks` view holds, checked on the client exactly as the server filters. */
import type { Task, TaskStatus } from '@taskpulse/protocol';

/** A status, or `active` for queued + running. */
export type StatusFilter = TaskStatus | 'active';

/** The filter of `watchTasks` and `listTasks`. Every given field must match. */
export interface TaskFilter {
  /** One status, `active` (queued + running), or several. */
  status?: StatusFilter | readonly StatusFilter[];
  /** Task type. */
  type?: string;
  /** A tag the task carries. */
  tag?: string;
  /** Parent task id. */
  parentId?: string;
  /** Owner (staff credentials only; a viewer only ever sees its own). */
  owner?: string;
}

function statuses(filter: TaskFilter): Set<TaskStatus> | null {
  if (filter.status === undefined) return null;
  const list = typeof filter.status === 'string' ? [filter.status] : filter.status;
  const out = new Set<TaskStatus>();
  for (const s of list) {
    if (s === 'active') {
      out.add('queued');
      out.add('running');
    } else out.add(s);
  }
  return out;
}

/** Filter fields a task matches by equality (`tag` matches one of the task's tags). */
const EXACT_FIELDS = ['type', 'parentId', 'owner'] as const;

/** True when `task` belongs in a view with this filter. */
export function matchesFilter(task: Task, filter: TaskFilter): boolean {
  const wanted = statuses(filter);
  if (wanted !== null && !wanted.has(task.status)) return false;
  if (filter.tag !== undefined && !task.tags.includes(filter.tag)) return false;
  return EXACT_FIELDS.every((field) => filter[field] === undefined || task[field] === filter[field]);
}

/** The query of `GET /v1/tasks` for this filter (fields left `undefined` are not sent). */
export function filterToQuery({ status, type, tag, parentId, owner }: TaskFilter): Record<string, string | undefined> {
  return { status: typeof status === 'string' ? status : status?.join(','), type, tag, parentId, owner };
}

/** Newest first, as the server lists them. */
export function compareNewestFirst(a: Task, b: Task): number {
  if (a.createdAt !== b.createdAt) return a.createdAt < b.createdAt ? 1 : -1;
  return a.id < b.id ? 1 : a.id > b.id ? -1 : 0;
}
