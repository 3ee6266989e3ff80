/**
 * Reading tasks as the API shows them: a stored record with its `eta` and `queue` computed now,
 * within what a principal may see. Built before the task service and the stream hub, and used by
 * both and by the routes: snapshots for streams and polls, a task, lists, counts, logs and the
 * notification inbox.
 */
import { TaskPulseError, type Notification, type Task } from '@taskpulse/protocol';
import type { EventFilter, Store, TaskFilter, TaskRecord } from '../store/store.ts';
import type { SortSpec } from '../store/task-sort.ts';
import { canSee, type Principal } from '../auth/principal.ts';
import { snapshotFilter } from '../stream/event-filter.ts';
import type { HistoryCache } from '../eta/history.ts';
import { estimate } from '../eta/eta.ts';
import type { QueueEstimates } from './queue.ts';
import * as model from './model.ts';

export interface TaskReaderDeps {
  store: Store;
  history: HistoryCache;
  queue: QueueEstimates;
  now?: () => number;
}

export class TaskReader {
  readonly #store: Store;
  readonly #history: HistoryCache;
  readonly #queue: QueueEstimates;
  readonly #now: () => number;

  constructor(deps: TaskReaderDeps) {
    this.#store = deps.store;
    this.#history = deps.history;
    this.#queue = deps.queue;
    this.#now = deps.now ?? Date.now;
  }

  /** The public task, with `eta` and `queue` computed now. */
  async present(r: TaskRecord): Promise<Task> {
    const queue = r.status === 'queued' ? this.#queue.info(r, await this.#store.tasks.queuePosition(r)) : null;
    return model.toTask(r, { eta: estimate(r, this.#history.get(r.type), this.#now(), this.#history.band(r.type)), queue });
  }

  /** A task the principal may see, or 404 exactly as for a task that does not exist. */
  async getVisible(p: Principal, id: string): Promise<TaskRecord> {
    const r = await this.#store.tasks.get(id);
    if (!r || !canSee(p, r)) throw new TaskPulseError('not_found', `no task ${id}`);
    return r;
  }

  async list(p: Principal, q: TaskFilter, limit: number, cursor: string | null, sort?: SortSpec): Promise<{ tasks: Task[]; nextCursor: string | null }> {
    const page = await this.#store.tasks.list(scoped(p, q), limit, cursor, sort);
    return { tasks: await Promise.all(page.items.map((r) => this.present(r))), nextCursor: page.nextCursor };
  }

  /** Counts by status of the tasks a principal may see that match `q`. */
  async counts(p: Principal, q: TaskFilter): Promise<Record<string, number>> {
    return this.#store.tasks.count(scoped(p, q));
  }

  /** The active tasks matching a reader's filter, consistent with the head they are read at. */
  async snapshot(filter: EventFilter, limit = 1000): Promise<{ head: number; tasks: Task[] }> {
    const snap = await this.#store.tasks.snapshot(snapshotFilter(filter), limit);
    return { head: snap.head, tasks: await Promise.all(snap.tasks.map((r) => this.present(r))) };
  }

  async logs(p: Principal, id: string, after: number, limit: number) {
    await this.getVisible(p, id);
    return this.#store.tasks.logs(id, after, limit);
  }

  notifications(owner: string, unreadOnly: boolean, limit: number): Promise<Notification[]> {
    return this.#store.notifications.list(owner, unreadOnly, limit);
  }
}

/** A list filter within what the principal may see: a viewer only ever reads its own tasks. */
function scoped(p: Principal, q: TaskFilter): TaskFilter {
  const filter: TaskFilter = { ...q };
  if (p.role === 'viewer') {
    if (q.owner !== undefined && q.owner !== p.owner) throw new TaskPulseError('forbidden', 'a viewer may only list its own tasks');
    filter.owner = p.owner;
    if (p.taskIds) filter.ids = [...p.taskIds];
  }
  return filter;
}
