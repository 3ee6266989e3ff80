/**
 * Live views: one task, or a filtered list. Each is an external store (a stable snapshot plus
 * `subscribe`), which is exactly what React's `useSyncExternalStore` and similar bindings want.
 */
import type { Task } from '@taskpulse/protocol';
import type { TaskPulseClientError } from './errors.ts';
import { listeners } from './listeners.ts';
import { compareNewestFirst, matchesFilter, type TaskFilter } from './task-filter.ts';
import type { TaskStore } from './task-store.ts';

export type Unsubscribe = () => void;

/** A live value. */
export interface Watch<T> {
  /** The current value: the same object until something changes. */
  getSnapshot(): T;
  /** Calls `listener` after each change (at most once per animation frame); returns the unsubscribe function. */
  subscribe(listener: (value: T) => void): Unsubscribe;
  /** Stops the view; further changes are not delivered. */
  close(): void;
  /** Every value from now on, starting with the current one; ends when the view is closed. */
  [Symbol.asyncIterator](): AsyncIterator<T>;
}

/** The value of `watchTask`. */
export interface TaskView {
  /** The task, as new as the client knows it; `undefined` until loaded or when not found. */
  task: Task | undefined;
  /** True until the first answer (or event) for this task. */
  loading: boolean;
  /** Why the task could not be loaded (`not_found` for a task you may not see). */
  error: TaskPulseClientError | undefined;
}

/** The value of `watchTasks`. */
export interface TaskListView {
  /** Matching tasks, newest first. */
  tasks: Task[];
  loading: boolean;
  error: TaskPulseClientError | undefined;
}

/** What a view needs from the client. */
export interface WatchHost {
  store: TaskStore;
  unregister(watch: BaseWatch<unknown>): void;
}

/** A live value with listeners, closing, and async iteration; subclasses decide what changes it. */
export abstract class BaseWatch<T> implements Watch<T> {
  protected value: T;
  #unregister: (watch: BaseWatch<unknown>) => void;
  #listeners = listeners<T>();
  #closed = false;
  #onClose = new Set<() => void>();

  constructor(initial: T, unregister: (watch: BaseWatch<unknown>) => void) {
    this.#unregister = unregister;
    this.value = initial;
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** True when the last load failed (the client loads it again once the connection recovers). */
  get failed(): boolean {
    return (this.value as { error?: unknown }).error !== undefined;
  }

  getSnapshot = (): T => this.value;

  subscribe = (listener: (value: T) => void): Unsubscribe => this.#listeners.add(listener);

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#listeners.clear();
    this.#unregister(this as BaseWatch<unknown>);
    for (const f of this.#onClose) f();
  }

  /** Loads again from the server (after a `reset`, or a failed first load). */
  abstract reload(replace?: boolean): void;

  protected set(next: T): void {
    if (this.#closed || next === this.value) return;
    this.value = next;
    this.#listeners.emit(next);
  }

  [Symbol.asyncIterator](): AsyncIterator<T> {
    const queue: T[] = [this.value];
    let wake: (() => void) | null = null;
    const off = this.subscribe((v) => {
      queue.push(v);
      wake?.();
    });
    const stop = () => wake?.();
    this.#onClose.add(stop);
    return {
      next: async (): Promise<IteratorResult<T>> => {
        while (queue.length === 0 && !this.#closed) await new Promise<void>((r) => (wake = r));
        wake = null;
        if (queue.length > 0) return { value: queue.shift()!, done: false };
        off();
        return { value: undefined, done: true };
      },
      return: async (): Promise<IteratorResult<T>> => {
        off();
        this.#onClose.delete(stop);
        return { value: undefined, done: true };
      },
    };
  }
}

export class TaskWatch extends BaseWatch<TaskView> {
  readonly id: string;
  protected host: WatchHost;
  #load: (id: string) => Promise<Task>;

  constructor(host: WatchHost, id: string, load: (id: string) => Promise<Task>) {
    const known = host.store.get(id);
    super({ task: known, loading: known === undefined, error: undefined }, host.unregister);
    this.host = host;
    this.id = id;
    this.#load = load;
    // A task the client holds is kept current by the event stream; only an unknown one is fetched.
    if (known === undefined) this.reload();
  }

  refresh(ids: ReadonlySet<string>): void {
    if (!ids.has(this.id)) return;
    const task = this.host.store.get(this.id);
    if (task !== undefined && task !== this.value.task) this.set({ task, loading: false, error: undefined });
  }

  reload(): void {
    // The answer goes through the store (newest seq wins), which calls refresh().
    this.#load(this.id).catch((error: TaskPulseClientError) => {
      if (this.value.task === undefined) this.set({ task: undefined, loading: false, error });
    });
  }
}

export class TaskListWatch extends BaseWatch<TaskListView> {
  readonly filter: TaskFilter;
  protected host: WatchHost;
  #ids = new Set<string>();
  #list: (filter: TaskFilter) => Promise<Task[]>;
  #generation = 0;
  /** At most this many tasks, the newest: live additions push the oldest out. */
  readonly #limit: number;

  constructor(host: WatchHost, filter: TaskFilter & { limit?: number }, list: (filter: TaskFilter) => Promise<Task[]>) {
    super({ tasks: [], loading: true, error: undefined }, host.unregister);
    this.host = host;
    this.filter = filter;
    this.#limit = filter.limit ?? Infinity;
    this.#list = list;
    // Tasks the client already knows show at once (e.g. the active ones from the snapshot).
    for (const task of host.store.values()) if (matchesFilter(task, filter)) this.#ids.add(task.id);
    if (this.#ids.size > 0) this.#publish(true);
    this.reload();
  }

  /** True when this view holds or may now hold one of `ids`. */
  refresh(ids: ReadonlySet<string>): void {
    let changed = false;
    for (const id of ids) {
      const task = this.host.store.get(id);
      const matches = task !== undefined && matchesFilter(task, this.filter);
      if (matches) {
        this.#ids.add(id);
        changed = true;
      } else if (this.#ids.delete(id)) changed = true;
    }
    if (changed) this.#publish(this.value.loading);
  }

  holds(id: string): boolean {
    return this.#ids.has(id);
  }

  /** @param replace - after a `reset`: the answer replaces the view instead of adding to it. */
  reload(replace = false): void {
    const generation = ++this.#generation;
    this.#list(this.filter).then(
      (tasks) => {
        if (generation !== this.#generation || this.closed) return;
        if (replace) this.#ids.clear();
        // The store already holds these (newest seq wins); take the store's versions.
        for (const t of tasks) this.#ids.add(t.id);
        for (const id of [...this.#ids]) {
          const task = this.host.store.get(id);
          if (task === undefined || !matchesFilter(task, this.filter)) this.#ids.delete(id);
        }
        this.#publish(false);
      },
      (error: TaskPulseClientError) => {
        if (generation !== this.#generation) return;
        this.set({ ...this.value, loading: false, error });
      },
    );
  }

  #publish(loading: boolean): void {
    const tasks: Task[] = [];
    for (const id of this.#ids) {
      const task = this.host.store.get(id);
      if (task !== undefined) tasks.push(task);
    }
    tasks.sort(compareNewestFirst);
    if (tasks.length > this.#limit) {
      for (const t of tasks.splice(this.#limit)) this.#ids.delete(t.id);
    }
    const prev = this.value.tasks;
    if (!loading && !this.value.loading && prev.length === tasks.length && prev.every((t, i) => t === tasks[i])) return;
    this.set({ tasks, loading, error: undefined });
  }
}
