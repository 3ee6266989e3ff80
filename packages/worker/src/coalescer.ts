/**
 * Progress coalescing, the pure part: which reports to send, when, and in what order. No I/O and
 * no clock of its own — every method takes `now` — so the rules are tested without timers.
 *
 * Rules
 * - Per task, reports form an ordered queue of entries. Plain progress (`done`, `total`,
 *   `message`, `metadata`) merges into the newest open entry: the latest value wins.
 * - A stage change seals the open entry and starts a new one, so the progress of the previous
 *   stage is sent before the stage change, and the stage change is never merged away.
 * - A log line rides on the open entry when it has none; otherwise it starts a new entry. Log
 *   lines are never dropped.
 * - A task sends at most once per `throttleMs` (measured from the start of its previous send)
 *   unless an entry is urgent (a stage change, or a flush before the final state).
 * - A task has at most one request in flight, so its entries reach the server in order.
 */

/** Log severity, as the server accepts it. */
export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

/** One report to the server: the fields of `POST /v1/tasks/:id/progress` without the lease. */
export interface ReportPatch {
  done?: number;
  total?: number;
  message?: string | null;
  stage?: string;
  metadata?: Record<string, unknown>;
  log?: { level: LogLevel; message: string };
}

/** A report taken for sending. */
export interface TakenReport {
  taskId: string;
  patch: ReportPatch;
}

interface Entry {
  patch: ReportPatch;
  sealed: boolean;
  urgent: boolean;
}

interface TaskQueue {
  entries: Entry[];
  lastSentAt: number;
  inFlight: boolean;
}

/** Counters for benchmarks and tests. */
export interface CoalescerStats {
  /** Calls accepted (progress, stage, log, metadata). */
  calls: number;
  /** Reports handed out for sending. */
  taken: number;
}

/** Per-task report queues and the throttle; see the module comment for the rules. */
export class Coalescer {
  readonly #throttleMs: number;
  readonly #tasks = new Map<string, TaskQueue>();
  #calls = 0;
  #taken = 0;

  /** @param throttleMs at most one send per task per this many milliseconds (urgent entries excepted). */
  constructor(throttleMs: number) {
    this.#throttleMs = throttleMs;
  }

  /** Starts tracking a task; `lastSentAt` is `-Infinity` so its first report goes out at once. */
  add(taskId: string): void {
    if (!this.#tasks.has(taskId)) this.#tasks.set(taskId, { entries: [], lastSentAt: -Infinity, inFlight: false });
  }

  /** Stops tracking a task and drops whatever it had pending. */
  remove(taskId: string): void {
    this.#tasks.delete(taskId);
  }

  has(taskId: string): boolean {
    return this.#tasks.has(taskId);
  }

  /** Latest-wins progress. */
  progress(taskId: string, fields: Pick<ReportPatch, 'done' | 'total' | 'message'>): void {
    const entry = this.#open(taskId);
    if (!entry) return;
    if (fields.done !== undefined) entry.patch.done = fields.done;
    if (fields.total !== undefined) entry.patch.total = fields.total;
    if (fields.message !== undefined) entry.patch.message = fields.message;
  }

  /** Latest-wins metadata (the caller passes the whole object it wants stored). */
  metadata(taskId: string, metadata: Record<string, unknown>): void {
    const entry = this.#open(taskId);
    if (entry) entry.patch.metadata = metadata;
  }

  /** A stage change: sealed off from what came before, sent without waiting for the throttle. */
  stage(taskId: string, key: string): void {
    const queue = this.#tasks.get(taskId);
    if (!queue) return;
    this.#calls++;
    const last = queue.entries.at(-1);
    if (last) last.sealed = true;
    queue.entries.push({ patch: { stage: key }, sealed: false, urgent: true });
  }

  /** A log line: never merged away. */
  log(taskId: string, level: LogLevel, message: string): void {
    const queue = this.#tasks.get(taskId);
    if (!queue) return;
    this.#calls++;
    const last = queue.entries.at(-1);
    if (last && !last.sealed && !last.patch.log) last.patch.log = { level, message };
    else queue.entries.push({ patch: { log: { level, message } }, sealed: false, urgent: false });
  }

  /** Makes everything pending for the task urgent (a flush before the final state). */
  urge(taskId: string): void {
    const queue = this.#tasks.get(taskId);
    if (queue) for (const entry of queue.entries) entry.urgent = true;
  }

  /** True while the task has reports pending or in flight. */
  busy(taskId: string): boolean {
    const queue = this.#tasks.get(taskId);
    return queue !== undefined && (queue.inFlight || queue.entries.length > 0);
  }

  /** When the next report is due (`now` or later), or `null` when nothing can be sent. */
  nextDueAt(now: number): number | null {
    let due: number | null = null;
    for (const queue of this.#tasks.values()) {
      const at = this.#dueAt(queue, now);
      if (at !== null && (due === null || at < due)) due = at;
    }
    return due;
  }

  /**
   * Takes every report due at `now`, at most `limit`, task by task in order; those tasks are in
   * flight until {@link Coalescer.settle}.
   */
  take(now: number, limit: number): TakenReport[] {
    const out: TakenReport[] = [];
    for (const [taskId, queue] of this.#tasks) {
      if (out.length >= limit) break;
      const at = this.#dueAt(queue, now);
      if (at === null || at > now) continue;
      // A task's entries go in one request, so none of them waits behind its own throttle.
      const n = Math.min(queue.entries.length, limit - out.length);
      for (const entry of queue.entries.splice(0, n)) out.push({ taskId, patch: entry.patch });
      if (queue.entries.length > 0) queue.entries[0]!.urgent = true; // the rest follows as soon as this lands
      queue.inFlight = true;
      queue.lastSentAt = now;
    }
    this.#taken += out.length;
    return out;
  }

  /** The request carrying the task's reports has ended (either way). */
  settle(taskId: string): void {
    const queue = this.#tasks.get(taskId);
    if (queue) queue.inFlight = false;
  }

  stats(): CoalescerStats {
    return { calls: this.#calls, taken: this.#taken };
  }

  #dueAt(queue: TaskQueue, now: number): number | null {
    if (queue.inFlight || queue.entries.length === 0) return null;
    if (queue.entries.some((e) => e.urgent)) return now;
    return Math.max(now, queue.lastSentAt + this.#throttleMs);
  }

  #open(taskId: string): Entry | undefined {
    const queue = this.#tasks.get(taskId);
    if (!queue) return undefined;
    this.#calls++;
    const last = queue.entries.at(-1);
    if (last && !last.sealed) return last;
    const entry: Entry = { patch: {}, sealed: false, urgent: false };
    queue.entries.push(entry);
    return entry;
  }
}
