/**
 * The unit of work both engines share: what a batch of `write` units does in memory, whichever
 * database runs it.
 *
 * - Units that arrive in one turn of the event loop share one transaction (group-commit.ts);
 *   each runs in its own savepoint, so a failing unit undoes only itself: its statements (the
 *   engine rolls back to the savepoint) and its changes in memory (the journal below), including
 *   its seqs — the log stays dense.
 * - The task cache: a unit reads its tasks from here when it can, and a task changed several
 *   times in one batch is written once (the dirty set), just before COMMIT or before a statement
 *   that reads tasks (`flush`).
 * - The events appended get their seqs here (`append`); after COMMIT they go to `onCommit`
 *   listeners in seq order, and then every unit's promise settles with its own outcome.
 *
 * The engine implements the `UnitOfWorkPort`: its transaction, savepoints and the batched writes
 * (flush rows, insert events, set head), and builds its `WriteTx` on the helpers here.
 */
import { GroupCommit, type Unit } from './group-commit.ts';
import type { MaybePromise, StoredEvent, TaskRecord, WriteOptions, WriteTx } from './store.ts';

/** What an engine does for the unit of work. */
export interface UnitOfWorkPort {
  /**
   * Opens the batch's transaction. Returns the head the batch continues from, or null when this
   * process is the only writer and the unit of work's own head stands.
   */
  begin(batch: readonly Unit[]): MaybePromise<number | null>;
  savepoint(): MaybePromise<void>;
  release(): MaybePromise<void>;
  /** Undoes the unit's statements: back to its savepoint, which is then released. */
  rollbackToSavepoint(): MaybePromise<void>;
  /**
   * The error to fail the whole batch with when the transaction itself is lost (a statement failed
   * outside a savepoint, or the engine rolled it back on its own), else null. `error` is what the
   * unit threw, if it threw.
   */
  lost(error: unknown): unknown;
  /** Writes the rows of tasks changed in memory. */
  flushRows(tasks: readonly TaskRecord[]): MaybePromise<void>;
  /** Writes the batch's events (an engine that wrote each as it was appended has nothing to do). */
  insertEvents(events: readonly StoredEvent[]): MaybePromise<void>;
  /** Records the new head (an engine whose head is its newest event has nothing to do). */
  setHead(head: number): MaybePromise<void>;
  commit(): MaybePromise<void>;
  /** Rolls the batch's transaction back (best effort) after `cause`. */
  rollback(cause: unknown): MaybePromise<void>;
  /** The batch is over, committed or not: e.g. hand the connection back. */
  end(cause: unknown): void;
}

export interface UnitOfWorkOptions {
  /**
   * `eager`: a savepoint before each unit. `lazy`: before the unit's first statement that changes
   * data (`beforeChange`), so a unit that only reads, or changes only memory, costs none.
   */
  savepoints: 'eager' | 'lazy';
  /**
   * A `pure` unit (WriteOptions.pure) runs without a savepoint. Should it fail after changing
   * anything, the whole batch is rolled back and run again with savepoints.
   */
  pureWithoutSavepoint: boolean;
  /** Task records kept between batches: only a sole writer may (another instance could change them). 0: none. */
  keepTasks: number;
  /** The head at open (a sole writer's; others read it in `begin`). @defaultValue 0 */
  head?: number;
}

/**
 * A map whose changes a unit or a batch can undo: the first change of each key is journaled.
 * Re-setting a key moves it to the end, so the oldest entries are trimmed first.
 */
export class JournaledMap<V> {
  readonly #map = new Map<string, V>();
  readonly #limit: number;
  #unit: Map<string, V | undefined> | null = null;
  #batch: Map<string, V | undefined> | null = null;

  /** `limit`: entries kept after `trim` (0 keeps none). */
  constructor(limit: number) {
    this.#limit = limit;
  }

  get(key: string): V | undefined {
    return this.#map.get(key);
  }

  set(key: string, value: V): void {
    if (this.#unit && !this.#unit.has(key)) this.#unit.set(key, this.#map.get(key));
    if (this.#batch && !this.#batch.has(key)) this.#batch.set(key, this.#map.get(key));
    this.#map.delete(key);
    this.#map.set(key, value);
  }

  openUnit(): void {
    this.#unit = new Map();
  }

  /** Stops journaling the unit; returns what it changed (the value before), to undo. */
  closeUnit(): Map<string, V | undefined> {
    const journal = this.#unit ?? new Map<string, V | undefined>();
    this.#unit = null;
    return journal;
  }

  openBatch(): void {
    this.#batch = new Map();
  }

  closeBatch(): void {
    this.#batch = null;
  }

  /** Puts back the values a journal recorded. */
  restore(journal: ReadonlyMap<string, V | undefined>): void {
    for (const [key, prev] of journal) {
      if (prev === undefined) this.#map.delete(key);
      else this.#map.set(key, prev);
    }
  }

  /** Undoes everything since `openBatch`. */
  undoBatch(): void {
    if (this.#batch) this.restore(this.#batch);
    this.#batch = new Map();
  }

  /** Drops the oldest entries beyond the limit. */
  trim(): void {
    let excess = this.#map.size - this.#limit;
    if (excess <= 0) return;
    for (const key of this.#map.keys()) {
      if (excess-- <= 0) break;
      this.#map.delete(key);
    }
  }

  clear(): void {
    this.#map.clear();
  }
}

type Outcome = { ok: boolean; value: unknown };

/** A bare `pure` unit failed after changing something: the batch runs again with savepoints. */
const RUN_AGAIN = Symbol('run again');

export class UnitOfWork {
  /** The task cache (see the header). */
  readonly tasks: JournaledMap<TaskRecord>;
  readonly #port: UnitOfWorkPort;
  readonly #options: UnitOfWorkOptions;
  readonly #maps: JournaledMap<unknown>[];
  readonly #writes = new GroupCommit((batch) => this.#commit(batch));
  readonly #listeners = new Set<(events: StoredEvent[]) => void>();
  #tx: WriteTx | null = null;
  #dirty = new Map<string, TaskRecord>();
  /** Rows of earlier units the running unit flushed: its rollback undoes them too, so they are written again. */
  #flushedInUnit: TaskRecord[] | null = null;
  #head: number;
  #pending: StoredEvent[] = [];
  #inUnit = false;
  #savepoint = false;
  /** The running unit is `pure` and runs without a savepoint; `#changed`: it changed something. */
  #bare = false;
  #changed = false;

  /** `state`: more in-memory state undone with a unit (SQLite's event-diff versions). */
  constructor(port: UnitOfWorkPort, options: UnitOfWorkOptions, state: readonly JournaledMap<unknown>[] = []) {
    this.#port = port;
    this.#options = options;
    this.#head = options.head ?? 0;
    this.tasks = new JournaledMap<TaskRecord>(options.keepTasks);
    this.#maps = [this.tasks as JournaledMap<unknown>, ...state];
  }

  /** The engine's statements for a unit; set once, before the first write. */
  use(tx: WriteTx): void {
    this.#tx = tx;
  }

  write<T>(fn: (tx: WriteTx) => MaybePromise<T>, options?: WriteOptions): Promise<T> {
    return this.#writes.write(fn, options);
  }

  /** Resolves once everything queued so far has been committed. */
  drain(): Promise<void> {
    return this.#writes.drain();
  }

  onCommit(listener: (events: StoredEvent[]) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  // ------------------------------------------------------------ for the engine's WriteTx

  /** The last seq assigned (committed, or appended by the running batch). */
  get head(): number {
    return this.#head;
  }

  /** Whether the running unit has its savepoint (a statement failing now undoes only the unit). */
  get inSavepoint(): boolean {
    return this.#savepoint;
  }

  /** A task read (or written) in this unit of work. */
  remember(t: TaskRecord): void {
    this.tasks.set(t.id, t);
  }

  /** A row just read from the database: the batch's newer copy wins (it was flushed, so they agree). */
  fresh(rec: TaskRecord | null): TaskRecord | null {
    if (!rec) return null;
    return this.tasks.get(rec.id) ?? (this.remember(rec), rec);
  }

  /** A task changed: its row is written at the next flush. */
  update(t: TaskRecord): void {
    this.#changed = true;
    this.remember(t);
    this.#dirty.set(t.id, t);
  }

  /** Call before a statement that changes data: takes the unit's savepoint when `lazy`. */
  beforeChange(): MaybePromise<void> {
    this.#changed = true;
    if (!this.#inUnit || this.#savepoint || this.#bare || this.#options.savepoints === 'eager') return;
    const taken = this.#port.savepoint();
    if (!taken) {
      this.#savepoint = true;
      return;
    }
    return taken.then(() => {
      this.#savepoint = true;
    });
  }

  /** Writes the changed task rows now (before a statement that reads tasks). */
  flush(): MaybePromise<void> {
    if (this.#dirty.size === 0) return;
    const ready = this.beforeChange();
    return ready ? ready.then(() => this.#flushRows()) : this.#flushRows();
  }

  #flushRows(): MaybePromise<void> {
    const rows = [...this.#dirty.values()];
    this.#dirty.clear();
    this.#flushedInUnit?.push(...rows);
    return this.#port.flushRows(rows);
  }

  /** Assigns the next seq; `store` makes (and, for some engines, writes) the stored event. */
  append(store: (seq: number) => StoredEvent): StoredEvent {
    this.#changed = true;
    const stored = store(++this.#head);
    this.#pending.push(stored);
    return stored;
  }

  // ------------------------------------------------------------ the batch

  async #commit(batch: Unit[]): Promise<void> {
    if ((await this.#run(batch, this.#options.pureWithoutSavepoint)) === RUN_AGAIN) await this.#run(batch, false);
  }

  /** One transaction for the batch; settles every unit. With `bare`, `pure` units run without a savepoint. */
  async #run(batch: Unit[], bare: boolean): Promise<typeof RUN_AGAIN | void> {
    const outcomes: Outcome[] = [];
    const keep = this.#options.keepTasks > 0;
    let batchHead = this.#head;
    let cause: unknown;
    this.#pending = [];
    this.#dirty.clear();
    if (!keep) this.tasks.clear();
    for (const m of this.#maps) m.openBatch();
    try {
      const head = await this.#port.begin(batch);
      if (head !== null) this.#head = head;
      batchHead = this.#head;
      for (const unit of batch) {
        const outcome = bare && unit.pure ? await this.#runBare(unit) : await this.#runInSavepoint(unit);
        if (outcome === RUN_AGAIN) {
          // Nothing to return to: undo the batch; it runs again with savepoints.
          await this.#port.rollback(undefined);
          for (const m of this.#maps) m.undoBatch();
          this.#dirty.clear();
          this.#head = batchHead;
          this.#pending = [];
          return RUN_AGAIN;
        }
        outcomes.push(outcome);
      }
      await this.flush();
      await this.#port.insertEvents(this.#pending);
      if (this.#head !== batchHead) await this.#port.setHead(this.#head);
      await this.#port.commit();
      for (const m of this.#maps) m.trim();
    } catch (error) {
      cause = this.#port.lost(error) ?? error;
      await this.#port.rollback(cause);
      for (const m of this.#maps) m.clear();
      this.#dirty.clear();
      this.#head = batchHead;
      this.#pending = [];
      for (const unit of batch) unit.reject(cause);
      return;
    } finally {
      for (const m of this.#maps) m.closeBatch();
      if (!keep) this.tasks.clear();
      this.#port.end(cause);
    }
    const committed = this.#pending;
    this.#pending = [];
    if (committed.length > 0) for (const l of this.#listeners) l(committed);
    outcomes.forEach((o, i) => (o.ok ? batch[i]!.resolve(o.value) : batch[i]!.reject(o.value)));
  }

  /** A `pure` unit without a savepoint: two statements less; should it fail after changing anything, RUN_AGAIN. */
  async #runBare(unit: Unit): Promise<Outcome | typeof RUN_AGAIN> {
    this.#inUnit = true;
    this.#bare = true;
    this.#changed = false;
    try {
      const value = await unit.fn(this.#tx!);
      this.#throwIfLost();
      return { ok: true, value };
    } catch (error) {
      if (this.#changed) return RUN_AGAIN;
      const lost = this.#port.lost(error);
      if (lost) throw lost;
      return { ok: false, value: error };
    } finally {
      this.#inUnit = false;
      this.#bare = false;
    }
  }

  async #runInSavepoint(unit: Unit): Promise<Outcome> {
    const unitHead = this.#head;
    const unitEvents = this.#pending.length;
    const flushed: TaskRecord[] = (this.#flushedInUnit = []);
    for (const m of this.#maps) m.openUnit();
    this.#inUnit = true;
    this.#savepoint = false;
    try {
      if (this.#options.savepoints === 'eager') {
        const taken = this.#port.savepoint();
        if (taken) await taken;
        this.#savepoint = true;
      }
      try {
        const value = await unit.fn(this.#tx!);
        this.#throwIfLost();
        if (this.#savepoint) {
          const released = this.#port.release();
          if (released) await released;
        }
        return { ok: true, value };
      } catch (error) {
        const lost = this.#port.lost(error);
        if (lost) throw lost;
        if (this.#savepoint) {
          const undone = this.#port.rollbackToSavepoint();
          if (undone) await undone;
        }
        const [journal, ...state] = this.#maps.map((m) => m.closeUnit()) as [Map<string, TaskRecord | undefined>, ...Map<string, unknown>[]];
        // Rows of earlier units flushed during this unit were rolled back with it: write them again.
        for (const rec of flushed) if (!journal.has(rec.id)) this.#dirty.set(rec.id, this.tasks.get(rec.id) ?? rec);
        this.tasks.restore(journal);
        for (const [id, prev] of journal) {
          if (prev) this.#dirty.set(id, prev);
          else this.#dirty.delete(id);
        }
        this.#maps.slice(1).forEach((m, i) => m.restore(state[i]!));
        // seq stays dense: an undone unit gives its numbers back.
        this.#head = unitHead;
        this.#pending.length = unitEvents;
        return { ok: false, value: error };
      }
    } finally {
      for (const m of this.#maps) m.closeUnit();
      this.#inUnit = false;
      this.#savepoint = false;
      this.#flushedInUnit = null;
    }
  }

  #throwIfLost(): void {
    const lost = this.#port.lost(undefined);
    if (lost) throw lost;
  }
}
