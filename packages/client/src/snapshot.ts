/**
 * The starting point of a page: the active tasks and the log position they are as new as.
 * Shown at once on load (no blank progress bar after F5), then events are read from `head`.
 */
import type { Snapshot, Task, TaskEvent } from '@taskpulse/protocol';
import type { Http } from './http.ts';

/** The answer of `GET /v1/events`. */
export interface EventsResponse {
  events: TaskEvent[];
  head: number;
  reset?: boolean;
  tasks?: Task[];
}

const BEYOND_ANY_HEAD = Number.MAX_SAFE_INTEGER;
const ACTIVE_PAGES = 10;

/**
 * Asks `/v1/events` from beyond the head: a server answers a cursor it does not hold with
 * `reset` and the snapshot of active tasks as of its head (one consistent read). A server that
 * answers without tasks still gives its head; the active tasks are then listed afterwards, which
 * makes them at least as new as the head, so replaying events from the head can only repeat
 * what the list holds (harmless: views never go backwards), never miss anything.
 */
export async function fetchSnapshot(http: Http): Promise<Snapshot> {
  const res = await http.json<EventsResponse>('GET', '/v1/events', { query: { after: BEYOND_ANY_HEAD, limit: 1 } });
  if (res.tasks) return { head: res.head, tasks: res.tasks };
  const tasks: Task[] = [];
  let cursor: string | null = null;
  for (let page = 0; page < ACTIVE_PAGES; page++) {
    const list: { tasks: Task[]; nextCursor: string | null } = await http.json('GET', '/v1/tasks', {
      query: { status: 'active', limit: 500, cursor: cursor ?? undefined },
    });
    tasks.push(...list.tasks);
    cursor = list.nextCursor ?? null;
    if (cursor === null) break;
  }
  return { head: res.head, tasks };
}
