/**
 * The table's sort: the server sorts the whole list (`GET /v1/tasks?sort=&order=`), so a page is
 * the true top of the order; between reads, rows that change live are put back in place with the
 * same rule the server uses (ties in creation order), so the page stays honest as bars move.
 */
import type { Task, TaskSort } from '@taskpulse/protocol';

export type { TaskSort };
export type SortOrder = 'asc' | 'desc';

const RANK: Record<string, number> = { queued: 0, running: 1, completed: 2, failed: 3, canceled: 4 };

const KEY: Record<TaskSort, (t: Task) => string | number> = {
  created: (t) => t.createdAt,
  type: (t) => t.type,
  owner: (t) => t.owner,
  status: (t) => RANK[t.status] ?? 4,
};

const SORTS = new Set<string>(Object.keys(KEY));

/** The sort a URL asks for (`sort`, `dir`), or the default (newest first) for anything unknown. */
export function sortFromParams(params: URLSearchParams): { key: TaskSort; order: SortOrder } {
  const key = params.get('sort');
  return { key: key && SORTS.has(key) ? (key as TaskSort) : 'created', order: params.get('dir') === 'asc' ? 'asc' : 'desc' };
}

const cmp = (a: string | number, b: string | number) => (a < b ? -1 : a > b ? 1 : 0);

/** Compares as the server orders: by the key (byte order for text, as SQLite), then by creation, both in `order`. */
export function compareTasks(key: TaskSort, order: SortOrder): (a: Task, b: Task) => number {
  const get = KEY[key];
  const sign = order === 'asc' ? 1 : -1;
  return (a, b) => sign * (cmp(get(a), get(b)) || cmp(a.createdAt, b.createdAt) || cmp(a.id, b.id));
}
