/**
 * The write queue both stores share: units that arrive within one turn of the event loop are
 * handed to `commit` together (one transaction), and a batch that arrives while one commits waits
 * for the next. Each store decides how a batch becomes a transaction.
 */
import type { MaybePromise, WriteOptions, WriteTx } from './store.ts';

export interface Unit {
  fn: (tx: WriteTx) => MaybePromise<unknown>;
  /** Task ids the unit will read (a hint: a store may load them for the whole batch at once). */
  tasks?: readonly string[];
  /** See `WriteOptions.pure`. */
  pure?: boolean;
  resolve: (v: unknown) => void;
  reject: (e: unknown) => void;
}

export class GroupCommit {
  readonly #commit: (batch: Unit[]) => Promise<void>;
  #queue: Unit[] = [];
  #scheduled = false;
  #flushing = false;

  /** `commit` applies a batch and settles every unit in it. */
  constructor(commit: (batch: Unit[]) => Promise<void>) {
    this.#commit = commit;
  }

  write<T>(fn: (tx: WriteTx) => MaybePromise<T>, options?: WriteOptions): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.#queue.push({ fn, resolve: resolve as (v: unknown) => void, reject, tasks: options?.tasks, pure: options?.pure });
      if (!this.#scheduled) {
        this.#scheduled = true;
        setImmediate(() => void this.#flush());
      }
    });
  }

  /** Resolves once everything queued so far has been committed. */
  async drain(): Promise<void> {
    while (this.#queue.length > 0 || this.#flushing || this.#scheduled) await new Promise((r) => setImmediate(r));
  }

  async #flush(): Promise<void> {
    this.#scheduled = false;
    if (this.#flushing) return; // the running flush picks the queue up when it ends
    this.#flushing = true;
    try {
      while (this.#queue.length > 0) await this.#commit(this.#queue.splice(0));
    } finally {
      this.#flushing = false;
    }
  }
}
