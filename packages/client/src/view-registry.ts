/**
 * The live views and the tasks they show: the task store (newest `seq` wins), the views of one
 * task and of filtered lists, UI notifications batched per frame, and pruning of finished tasks
 * no view shows.
 */
import type { Snapshot, Task } from '@taskpulse/protocol';
import type { Environment } from './environment.ts';
import { FrameBatcher } from './frame-batcher.ts';
import type { TaskFilter } from './task-filter.ts';
import { TaskStore } from './task-store.ts';
import { type BaseWatch, TaskListWatch, TaskWatch } from './watch.ts';

/** Above this many tasks in memory, finished tasks that no view shows are forgotten. */
const MAX_UNWATCHED_TASKS = 5000;

export class ViewRegistry {
  readonly store = new TaskStore();
  #batcher: FrameBatcher<string>;
  #tasks = new Map<string, Set<TaskWatch>>();
  #lists = new Set<TaskListWatch>();
  #pruneAt = MAX_UNWATCHED_TASKS;
  #host = {
    store: this.store,
    unregister: (watch: BaseWatch<unknown>) => {
      if (watch instanceof TaskWatch) this.#tasks.get(watch.id)?.delete(watch);
      else if (watch instanceof TaskListWatch) this.#lists.delete(watch);
    },
  };

  constructor(env: Environment) {
    this.#batcher = new FrameBatcher(env.scheduleFrame, (ids) => this.#flush(ids));
  }

  watchTask(id: string, load: (id: string) => Promise<Task>): TaskWatch {
    const watch = new TaskWatch(this.#host, id, load);
    let set = this.#tasks.get(id);
    if (set === undefined) this.#tasks.set(id, (set = new Set()));
    set.add(watch);
    return watch;
  }

  watchTasks(filter: TaskFilter, list: (filter: TaskFilter) => Promise<Task[]>): TaskListWatch {
    const watch = new TaskListWatch(this.#host, filter, list);
    this.#lists.add(watch);
    return watch;
  }

  /** A task from any source: kept when it is newer than the one held; its views hear it on the next frame. */
  apply(task: Task): void {
    if (!this.store.upsert(task)) return;
    this.#batcher.mark(task.id);
    if (this.store.size > this.#pruneAt) {
      this.#prune();
      // What is left is active or shown: look again only when it has doubled.
      this.#pruneAt = Math.max(MAX_UNWATCHED_TASKS, this.store.size * 2);
    }
  }

  /** A snapshot; after a `reset` it is the new truth: what it lacks is forgotten and every view loads again. */
  snapshot(snapshot: Snapshot, reset: boolean): void {
    if (!reset) {
      for (const task of snapshot.tasks) this.apply(task);
      return;
    }
    const keep = new Set(snapshot.tasks.map((t) => t.id));
    for (const task of [...this.store.values()]) if (!keep.has(task.id)) this.store.delete(task.id);
    for (const task of snapshot.tasks) {
      this.store.replace(task);
      this.#batcher.mark(task.id);
    }
    for (const w of this.#all()) w.reload(true);
  }

  /** The server answers again: views whose first load failed try once more. */
  reloadFailed(): void {
    for (const w of this.#all()) if (w.failed && w.getSnapshot().error?.code !== 'not_found') w.reload();
  }

  closeAll(): void {
    for (const w of [...this.#all()]) w.close();
  }

  *#all(): Generator<TaskWatch | TaskListWatch> {
    for (const set of this.#tasks.values()) yield* set;
    yield* this.#lists;
  }

  /** Forgets finished tasks no view shows, so a long-lived staff page does not grow without bound. */
  #prune(): void {
    for (const task of [...this.store.values()]) {
      if (task.status === 'queued' || task.status === 'running') continue;
      if (this.#tasks.get(task.id)?.size) continue;
      if ([...this.#lists].some((w) => w.holds(task.id))) continue;
      this.store.delete(task.id);
    }
  }

  #flush(ids: ReadonlySet<string>): void {
    for (const id of ids) for (const w of this.#tasks.get(id) ?? []) w.refresh(ids);
    for (const w of this.#lists) w.refresh(ids);
  }
}
