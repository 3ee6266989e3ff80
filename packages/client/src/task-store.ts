/**
 * The client's view of tasks. A task is replaced only by a strictly newer version (a higher
 * `task.seq`), so no source — a late poll, a stale list, a forwarded message — ever moves a
 * progress bar backwards.
 */
import type { Task } from '@taskpulse/protocol';

export class TaskStore {
  #tasks = new Map<string, Task>();

  get(id: string): Task | undefined {
    return this.#tasks.get(id);
  }

  /** Stores `task` unless a version at least as new is held; true when the view changed. */
  upsert(task: Task): boolean {
    const held = this.#tasks.get(task.id);
    if (held !== undefined && held.seq >= task.seq) return false;
    this.#tasks.set(task.id, task);
    return true;
  }

  /** Stores `task` whatever it replaces: only for a snapshot after a `reset`, which is the new truth. */
  replace(task: Task): void {
    this.#tasks.set(task.id, task);
  }

  delete(id: string): boolean {
    return this.#tasks.delete(id);
  }

  values(): IterableIterator<Task> {
    return this.#tasks.values();
  }

  get size(): number {
    return this.#tasks.size;
  }

  /** Tasks that are queued or running. */
  activeCount(): number {
    let n = 0;
    for (const t of this.#tasks.values()) if (t.status === 'queued' || t.status === 'running') n++;
    return n;
  }
}
