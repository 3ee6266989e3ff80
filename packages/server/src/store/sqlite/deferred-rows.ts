/**
 * SQLite: task rows written behind the log, for progress.
 *
 * A progress report changes a running task's progress, message, metadata, times and lease, and
 * appends an event that carries the task after the change. Rewriting the task's row as well, in
 * every commit, dirtied one more table page per task per commit (with the per-task index, most of
 * a report's WAL). So a row change that only touches those fields of a running task is *deferred*:
 * the record stays in memory, and the rows are written together later — once the oldest deferred
 * change is {@link DEFER_MS} old (checked at each commit and by the store's timer), once
 * {@link MAX_DEFERRED} tasks wait, before a read that searches task text, and at close. Any other
 * change to the task (status, stage, attempt, result…) writes its row at once, as before.
 *
 * What a deferred row means for readers and for a crash:
 * - Reads see the committed record: `get` (the write path's and the reader's), lists and snapshots
 *   put it in place of the stale row ({@link DeferredRows.committed}); a deferred change never
 *   touches what lists filter or sort on (status, type, owner, parent, tags, created), and a search
 *   (`q`) writes the deferred rows first.
 * - The event log is the durable truth. `meta.rows` is the head at the last time every deferred row
 *   was written; at open, {@link recoverRows} takes each task's last event after it and puts its
 *   progress, message, metadata and times back into the row (nothing is lost that a 2xx
 *   acknowledged). What the log does not carry — a lease renewed by a report (renewed again from
 *   the event's time and the lease's length), the smoothed gap between moves — is at most
 *   DEFER_MS behind after a crash.
 */
import type Database from 'better-sqlite3';
import { TASK_EVENT_TYPES } from '@taskpulse/protocol';
import { rowsToEvents } from '../event-diff.ts';
import type { Row } from '../sql.ts';
import type { TaskRecord } from '../store.ts';
import type { TaskDocs, TaskInputs } from './task-docs.ts';

/** A deferred row is written once its change is this old (ms). */
export const DEFER_MS = 1000;
/** …or once this many tasks wait. */
export const MAX_DEFERRED = 2000;
/** Rows remembered as written (a task not among them has its next change written at once). */
const WRITTEN_LIMIT = 20_000;

/** The fields a progress report (or a health reassessment) changes; a change to any other field is written at once. */
const DEFERRABLE = new Set<string>([
  'done', 'total', 'percent', 'message', 'metadata', 'updatedAt', 'heartbeatAt', 'health', 'seq', 'lease', 'lastMoveAtMs', 'moveGapMs',
]);

/** Whether `next` differs from the row as written (`written`) only in deferrable fields, on a running task. */
export function deferrable(written: TaskRecord, next: TaskRecord): boolean {
  if (written.status !== 'running' || next.status !== 'running') return false;
  if (written.lease?.token !== next.lease?.token) return false;
  const w = written as unknown as Record<string, unknown>;
  const n = next as unknown as Record<string, unknown>;
  let keys = 0;
  for (const k in n) {
    keys++;
    if (!DEFERRABLE.has(k) && n[k] !== w[k]) return false;
  }
  for (const k in w) keys--;
  return keys === 0;
}

type Journal = Map<string, { written: TaskRecord | undefined; batch: TaskRecord | undefined; wrote: boolean }>;

/** The write connection's deferred rows (see the header); driven by the unit of work's port. */
export class DeferredRows {
  readonly #s;
  readonly #inputs: TaskInputs;
  /** The record each row holds, as far as this process wrote it. */
  readonly #written = new Map<string, TaskRecord>();
  /** Committed records whose rows are behind. */
  readonly #deferred = new Map<string, TaskRecord>();
  /** When the oldest of them was deferred (ms), or null. */
  #since: number | null = null;
  /** The running batch's deferred records, and the tasks whose rows it wrote. */
  readonly #batch = new Map<string, TaskRecord>();
  readonly #wrote = new Set<string>();
  #unit: Journal | null = null;
  #writeAll = false;
  /** `meta.rows`: every row holds every change up to this seq. */
  #rowsThrough: number;
  #pendingRowsThrough: number | null = null;

  constructor(db: Database.Database, inputs: TaskInputs) {
    this.#inputs = inputs;
    this.#s = {
      update: db.prepare('UPDATE tasks SET status = ?, lease_expires_at = ?, doc = ? WHERE id = ?'),
      setRows: db.prepare("INSERT OR REPLACE INTO meta (k, v) VALUES ('rows', ?)"),
    };
    this.#rowsThrough = rowsThrough(db);
  }

  /** How many tasks have a row behind (committed, or deferred by the running batch). */
  get size(): number {
    return this.#deferred.size + this.#batch.size;
  }

  /** The committed record of a task whose row is behind, for readers. */
  committed(id: string): TaskRecord | undefined {
    return this.#deferred.get(id);
  }

  /** The newest record of a task whose row is behind (the running batch's first), for the write path. */
  get(id: string): TaskRecord | undefined {
    return this.#batch.get(id) ?? this.#deferred.get(id);
  }

  /** Whether the deferred rows are old enough to be written. */
  due(nowMs: number): boolean {
    return this.#since !== null && nowMs - this.#since >= DEFER_MS;
  }

  /** The running batch writes every deferred row before it commits. */
  requestWriteAll(): void {
    this.#writeAll = true;
  }

  // ------------------------------------------------------------ the port's calls

  /** Writes the rows of `tasks`, or defers those whose change allows it. */
  flush(tasks: readonly TaskRecord[]): void {
    for (const t of tasks) {
      const written = this.#written.get(t.id);
      this.#touch(t.id);
      if (written !== undefined && deferrable(written, t)) {
        this.#batch.set(t.id, t);
        continue;
      }
      this.#write(t);
      this.#batch.delete(t.id);
      this.#wrote.add(t.id);
    }
  }

  savepoint(): void {
    this.#unit = new Map();
  }

  release(): void {
    this.#unit = null;
  }

  /** The unit's statements were undone: so are its rows written and deferred. */
  rollbackToSavepoint(): void {
    for (const [id, e] of this.#unit ?? []) {
      if (e.written === undefined) this.#written.delete(id);
      else this.#written.set(id, e.written);
      if (e.batch === undefined) this.#batch.delete(id);
      else this.#batch.set(id, e.batch);
      if (e.wrote) this.#wrote.add(id);
      else this.#wrote.delete(id);
    }
    this.#unit = null;
  }

  /** Before COMMIT, with the batch's head: writes every deferred row when they are due. */
  beforeCommit(head: number, nowMs: number): void {
    const waiting = this.#deferred.size + this.#batch.size;
    if (this.#writeAll || waiting > MAX_DEFERRED || this.due(nowMs)) {
      for (const [id, t] of this.#deferred) if (!this.#batch.has(id) && !this.#wrote.has(id)) this.#write(t);
      for (const t of this.#batch.values()) this.#write(t);
      this.#s.setRows.run(head);
      this.#pendingRowsThrough = head;
      return;
    }
    // Nothing behind: move the recovery point on now and then, so an open never replays much.
    if (waiting === 0 && head - this.#rowsThrough > 10_000) {
      this.#s.setRows.run(head);
      this.#pendingRowsThrough = head;
    }
  }

  /** After COMMIT. */
  afterCommit(nowMs: number): void {
    if (this.#pendingRowsThrough !== null) {
      this.#rowsThrough = this.#pendingRowsThrough;
      this.#deferred.clear();
      this.#since = null;
    } else {
      for (const id of this.#wrote) this.#deferred.delete(id);
      for (const [id, t] of this.#batch) this.#deferred.set(id, t);
      if (this.#deferred.size === 0) this.#since = null;
      else this.#since ??= nowMs;
    }
    this.#endBatch();
  }

  /** The batch was rolled back: its rows are as before it (the records it wrote are forgotten: written again next time). */
  rolledBack(): void {
    for (const id of this.#wrote) this.#written.delete(id);
    for (const id of this.#batch.keys()) this.#written.delete(id);
    this.#endBatch();
  }

  #endBatch(): void {
    this.#batch.clear();
    this.#wrote.clear();
    this.#unit = null;
    this.#writeAll = false;
    this.#pendingRowsThrough = null;
    if (this.#written.size > WRITTEN_LIMIT) {
      let excess = this.#written.size - WRITTEN_LIMIT;
      for (const id of this.#written.keys()) {
        if (excess-- <= 0) break;
        if (!this.#deferred.has(id)) this.#written.delete(id);
      }
    }
  }

  #touch(id: string): void {
    if (this.#unit && !this.#unit.has(id)) {
      this.#unit.set(id, { written: this.#written.get(id), batch: this.#batch.get(id), wrote: this.#wrote.has(id) });
    }
  }

  #write(t: TaskRecord): void {
    this.#s.update.run(t.status, t.lease?.expiresAtMs ?? null, this.#inputs.doc(t), t.id);
    this.#written.delete(t.id);
    this.#written.set(t.id, t);
  }
}

/** `meta.rows` (0 in a file that has none). */
function rowsThrough(db: Database.Database): number {
  return (db.prepare("SELECT v FROM meta WHERE k = 'rows'").pluck().get() as number | undefined) ?? 0;
}

/**
 * At open, on the write connection: puts into each task's row what its last event after `meta.rows`
 * says (a crash left deferred rows behind), then moves `meta.rows` to the head. Returns how many
 * rows it wrote.
 */
export function recoverRows(db: Database.Database, docs: TaskDocs, inputs: TaskInputs): number {
  const version = db.prepare('SELECT json FROM task_versions WHERE task_id = ? AND seq = ?').pluck();
  const getDoc = db.prepare('SELECT doc FROM tasks WHERE id = ?').pluck();
  const update = db.prepare('UPDATE tasks SET lease_expires_at = ?, doc = ? WHERE id = ?');
  const lastEvents = db.prepare(
    `SELECT * FROM events WHERE seq IN (SELECT max(seq) FROM events WHERE seq > ? AND task_id IS NOT NULL
       AND type IN (${TASK_EVENT_TYPES.filter((t) => t !== 'task.log').map((t) => `'${t}'`).join(',')}) GROUP BY task_id) ORDER BY seq`,
  );
  // IMMEDIATE: read and written under the write lock (another process, e.g. the CLI beside a
  // running server, may open the file too).
  return db.transaction(() => {
    const from = rowsThrough(db);
    const head = (db.prepare('SELECT max(seq) FROM events').pluck().get() as number | null) ?? 0;
    if (head <= from) return 0;
    let n = 0;
    for (const e of rowsToEvents(lastEvents.all(from) as Row[], (id, base) => version.get(id, base) as string | undefined)) {
      const task = (JSON.parse(e.json) as { task?: Record<string, unknown> }).task;
      const rec = docs.parse(getDoc.get(e.taskId));
      if (!task || !rec) continue;
      const next = recovered(rec, task, Date.parse(e.at));
      if (next === null) continue;
      update.run(next.lease?.expiresAtMs ?? null, inputs.doc(next), next.id);
      n++;
    }
    db.prepare("INSERT OR REPLACE INTO meta (k, v) VALUES ('rows', ?)").run(head);
    return n;
  }).immediate();
}

/**
 * The row `rec` brought up to its task's event `task` (the wire task, at `atMs`), or null when the
 * row already holds it or a change that is never deferred separates them.
 */
export function recovered(rec: TaskRecord, task: Record<string, unknown>, atMs: number): TaskRecord | null {
  const seq = task.seq as number;
  const stage = task.stage as { index: number } | null;
  if (rec.seq >= seq || rec.status !== 'running' || task.status !== 'running' || rec.stageIndex !== (stage?.index ?? -1)) return null;
  const progress = task.progress as { done: number | null; total: number | null; percent: number | null };
  const heartbeatAt = task.heartbeatAt as string | null;
  const lease = rec.lease && rec.lease.leaseMs !== undefined
    ? { ...rec.lease, expiresAtMs: Math.max(rec.lease.expiresAtMs, atMs + rec.lease.leaseMs) }
    : rec.lease;
  return {
    ...rec,
    done: progress.done,
    total: progress.total,
    percent: progress.percent,
    message: task.message as string | null,
    metadata: task.metadata as Record<string, unknown>,
    updatedAt: task.updatedAt as string,
    heartbeatAt: heartbeatAt !== null && (rec.heartbeatAt === null || heartbeatAt > rec.heartbeatAt) ? heartbeatAt : rec.heartbeatAt,
    health: (task.health as TaskRecord['health']) ?? rec.health,
    seq,
    lease,
    lastMoveAtMs: progress.done !== rec.done ? Math.max(rec.lastMoveAtMs ?? 0, atMs) : rec.lastMoveAtMs,
  };
}
