/**
 * One SSE reader. Frames are built once per event by the hub and the same buffer is written to
 * every matching stream; per-connection work is a filter check and a write.
 *
 * Backpressure: a reader whose socket buffer passes `bufferBytes` is closed (it resumes from its
 * cursor). With `coalesce`, a lagging reader first stops receiving superseded `task.updated`
 * events of a task (only the newest is kept); milestones are always kept, in order. A reader that
 * takes nothing for `stallMs` while bytes wait for it is closed too, whatever its state: a
 * catching-up reader (which waits for its socket to drain, so never reaches `bufferBytes`) and a
 * coalescing one (whose pending events are replaced, not added to) would otherwise be held forever.
 */
import type { ServerResponse } from 'node:http';
import { eventFrame, heartbeatFrame } from '@taskpulse/protocol/frames';
import type { EventFilter, StoredEvent } from '../store/store.ts';
import { FINAL_EVENTS, deltaOf } from '../store/event-diff.ts';
import type { StreamCredential } from './sse-hub.ts';

export interface ConnectionConfig {
  bufferBytes: number;
  /** Interval of this stream's heartbeats. */
  heartbeatMs: number;
  /** A reader with more than this many bytes unsent counts as lagging (coalescing starts). */
  lagBytes: number;
  coalesce: boolean;
  /**
   * Send `task.updated` events as deltas (`delta=true`) where this stream was sent the task at
   * the delta's base; every other event, the first of each task, catch-up and coalesced events whole.
   */
  delta: boolean;
  /** A reader that takes no bytes for this long while bytes wait for it is closed. */
  stallMs: number;
  /** The hub's clock (ms since the epoch). */
  now: () => number;
}

export type ConnectionState = 'catching-up' | 'live' | 'closed';

export class SseConnection {
  readonly res: ServerResponse;
  readonly filter: EventFilter;
  readonly #config: ConnectionConfig;
  state: ConnectionState = 'catching-up';
  /** Every matching event with seq ≤ cursor has been written (or, coalescing, superseded). */
  cursor = 0;
  /** The seq of the last event written or queued on this stream (0 before any). */
  lastSent = 0;
  #pending: StoredEvent[] = [];
  #pendingBytes = 0;
  #onClose: (c: SseConnection) => void;
  readonly openedAt: number;
  lastHeartbeatAt: number;
  /** The cursor is known (after the snapshot or reset): catch-up heartbeats may carry it. */
  resumed = false;
  /** Bytes the socket had handed to the kernel when it was last seen taking some, and when. */
  #flushed = -1;
  #progressAt: number;
  /** A delta stream's tasks: the task `seq` it was last sent of each (null on other streams). */
  readonly #sent: Map<string, number> | null;

  get heartbeatMs(): number {
    return this.#config.heartbeatMs;
  }

  /** What keeps the stream's credential valid (the hub checks it at its tick). */
  credential: StreamCredential | undefined;

  constructor(res: ServerResponse, filter: EventFilter, config: ConnectionConfig, onClose: (c: SseConnection) => void) {
    this.res = res;
    this.filter = filter;
    this.#config = config;
    this.#onClose = onClose;
    this.openedAt = this.lastHeartbeatAt = this.#progressAt = config.now();
    this.#sent = config.delta ? new Map() : null;
    // Shared listeners that find the stream on the response, rather than two closures per stream.
    (res as Holder)[CONNECTION] = this;
    res.on('close', onResponseClose);
    // Only a coalescing stream keeps events of its own to send when the socket drains.
    if (config.coalesce) res.on('drain', onResponseDrain);
  }

  get isClosed(): boolean {
    return this.state === 'closed';
  }

  get lagging(): boolean {
    return this.#pending.length > 0 || this.res.writableLength > this.#config.lagBytes;
  }

  /** Writes a raw frame (retry, snapshot, reset) bypassing coalescing. */
  writeRaw(frame: string | Buffer): void {
    if (this.state === 'closed') return;
    this.res.write(frame);
    this.#checkBuffer();
  }

  /** Delivers one matching event in order (the caller checked the filter). */
  send(e: StoredEvent): void {
    if (this.state === 'closed' || e.seq <= this.cursor) return;
    this.cursor = e.seq;
    this.lastSent = e.seq;
    // A lagging coalescing reader's events wait, and go whole (flushPending): one that follows
    // skipped ones cannot be a delta.
    const queue = this.#config.coalesce && this.lagging;
    let frame: Buffer | undefined;
    const sent = this.#sent;
    if (sent !== null) {
      const delta = deltaOf(e);
      // Whole, unless this stream holds the task just as the delta's base.
      if (delta !== undefined && !queue && sent.get(e.taskId!) === delta.base) frame = deltaFrameOf(e, delta.json);
      this.#learn(e);
    }
    frame ??= frameOf(e); // built once, on first use, then shared by every stream
    if (queue) {
      if (e.type === 'task.updated' && !e.milestone) {
        const i = this.#pending.findIndex((p) => p.type === 'task.updated' && !p.milestone && p.taskId === e.taskId);
        if (i >= 0) {
          this.#pendingBytes -= frameOf(this.#pending[i]!).length;
          this.#pending.splice(i, 1);
        }
      }
      this.#pending.push(e);
      this.#pendingBytes += frame.length;
      if (this.#pendingBytes + this.res.writableLength > this.#config.bufferBytes) this.close();
      return;
    }
    // The events of one commit are dispatched in one go: corked, they leave in one writev instead
    // of one syscall each. One tick uncorks every stream corked in this turn (not one per stream).
    if (!this.#corked) {
      this.#corked = true;
      this.res.cork();
      if (corked.push(this) === 1) process.nextTick(uncorkAll);
    }
    this.res.write(frame);
    if (this.res.writableLength >= CORK_BYTES) {
      // A big commit is sent as it grows, so corking never makes a reader look lagging.
      this.res.uncork();
      this.res.cork();
    }
    this.#checkBuffer();
  }

  #corked = false;

  /** Sends what `send` corked in this turn (uncorkAll). */
  uncork(): void {
    if (!this.#corked) return;
    this.#corked = false;
    this.res.uncork();
  }

  /**
   * Catch-up: writes the events of `events` from index `from` that are past the cursor, up to
   * about `maxBytes`, as one write (one syscall, one chunk) instead of one each; returns the index
   * after the last event taken. A lagging coalescing reader gets them one by one through `send`.
   */
  sendBatch(events: readonly StoredEvent[], from: number, maxBytes: number): number {
    if (this.state === 'closed') return events.length;
    if (this.#config.coalesce && this.lagging) {
      this.send(events[from]!);
      return from + 1;
    }
    const frames: Buffer[] = [];
    let bytes = 0;
    let i = from;
    for (; i < events.length && bytes < maxBytes; i++) {
      const e = events[i]!;
      if (e.seq <= this.cursor) continue;
      const f = frameOf(e);
      frames.push(f);
      bytes += f.length;
      this.cursor = e.seq;
      this.lastSent = e.seq;
      if (this.#sent !== null) this.#learn(e);
    }
    if (frames.length > 0) {
      this.res.write(frames.length === 1 ? frames[0]! : Buffer.concat(frames, bytes));
      this.#checkBuffer();
    }
    return i;
  }

  /** Resolves once the socket has taken what was written (catch-up reads wait for it: backpressure). */
  drained(): Promise<void> {
    if (this.state === 'closed' || !this.res.writableNeedDrain) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        this.res.off('drain', done);
        this.res.off('close', done);
        resolve();
      };
      this.res.on('drain', done);
      this.res.on('close', done);
    });
  }

  /** A delta stream was sent these tasks whole (its snapshot). */
  learnTasks(tasks: readonly { id: string; seq: number }[]): void {
    if (this.#sent !== null) for (const t of tasks) this.#sent.set(t.id, t.seq);
  }

  /** Remembers the task `seq` a delta stream now holds (a finished task is forgotten). */
  #learn(e: StoredEvent): void {
    if (e.taskId === null || e.type === 'task.log' || !e.type.startsWith('task.')) return;
    if (FINAL_EVENTS.has(e.type)) this.#sent!.delete(e.taskId);
    else this.#sent!.set(e.taskId, e.seq);
  }

  /** Marks events the reader may not see as passed. */
  skip(seq: number): void {
    if (seq > this.cursor) this.cursor = seq;
  }

  /** Writes a heartbeat (none while coalesced events wait, nor before the cursor is known); true when written. */
  heartbeat(head: number): boolean {
    if (this.state === 'closed' || this.#pending.length > 0) return false;
    if (this.state === 'catching-up') {
      // Still reading the backlog (paced, or waiting for the socket): the heartbeat promises only
      // what has been written, so the client's cursor and gap check stay exact.
      if (!this.resumed) return false;
      this.lastHeartbeatAt = this.#config.now();
      this.writeRaw(heartbeatFrame(this.cursor, this.lastSent));
      return true;
    }
    const h = Math.max(head, this.cursor);
    this.cursor = h;
    this.lastHeartbeatAt = this.#config.now();
    // `last` (an extension) lets a filtered reader tell "other owners' events moved the head" from
    // "an event of mine was lost": only the latter needs a catch-up read.
    this.writeRaw(heartbeatFrame(h, this.lastSent));
    return true;
  }

  /**
   * Closes the stream when bytes have been waiting for the reader and it has taken none for
   * `stallMs` (it stopped reading). True when closed.
   */
  checkStall(now: number): boolean {
    if (this.state === 'closed') return false;
    if (this.#pending.length === 0 && this.res.writableLength === 0) {
      // Nothing waits (most streams at most ticks): no need to ask the socket what it sent.
      this.#flushed = -1;
      this.#progressAt = now;
      return false;
    }
    const sock = this.res.socket;
    // Bytes handed to the kernel so far: written, minus what is still buffered in the process.
    const flushed = sock ? sock.bytesWritten - sock.writableLength : 0;
    if (flushed !== this.#flushed) {
      this.#flushed = flushed;
      this.#progressAt = now;
      return false;
    }
    if (now - this.#progressAt < this.#config.stallMs) return false;
    this.close();
    return true;
  }

  /** Writes the coalesced events that wait, as far as the socket takes them (on 'drain'). */
  flushPending(): void {
    while (this.#pending.length > 0 && this.state !== 'closed' && !this.res.writableNeedDrain) {
      const e = this.#pending.shift()!;
      const frame = frameOf(e);
      this.#pendingBytes -= frame.length;
      this.res.write(frame);
    }
  }

  #checkBuffer(): void {
    if (this.res.writableLength > this.#config.bufferBytes) this.close();
  }

  /** Ends the stream (optionally with a last frame, e.g. a `retry:` hint). Idempotent. */
  close(lastFrame?: string): void {
    if (this.state === 'closed') return;
    this.state = 'closed';
    this.#pending = [];
    this.credential = undefined;
    try {
      if (lastFrame && !this.res.destroyed) this.res.end(lastFrame);
      else if (!this.res.destroyed) this.res.destroy();
    } catch {
      // the socket is already gone
    }
    this.#onClose(this);
  }
}

/** Corked frames are sent once this many bytes wait (well below `lagBytes`). */
const CORK_BYTES = 16 * 1024;

/** The streams corked in this turn of the event loop; uncorkAll sends them all at its end. */
let corked: SseConnection[] = [];

function uncorkAll(): void {
  const list = corked;
  corked = [];
  for (const c of list) c.uncork();
}

/** Where a response keeps its stream, for the shared listeners below. */
const CONNECTION = Symbol('sse connection');
type Holder = ServerResponse & { [CONNECTION]?: SseConnection };

function onResponseClose(this: ServerResponse): void {
  (this as Holder)[CONNECTION]?.close();
}

function onResponseDrain(this: ServerResponse): void {
  (this as Holder)[CONNECTION]?.flushPending();
}

/**
 * Where an event keeps its frame: a symbol-keyed property of the event object (not a WeakMap: a
 * WeakMap entry per event is an ephemeron the garbage collector must process at every scavenge).
 * JSON and structured clones leave it out.
 */
const FRAME = Symbol('sse frame');
const DELTA_FRAME = Symbol('sse delta frame');

/** The event's SSE frame, built once and shared by every stream (SSE spec: id, event, data lines). */
export function frameOf(e: StoredEvent): Buffer {
  const holder = e as StoredEvent & { [FRAME]?: Buffer };
  let f = holder[FRAME];
  if (f === undefined) {
    f = Buffer.from(eventFrame(e.seq, e.type, e.json));
    Object.defineProperty(holder, FRAME, { value: f }); // not enumerable: deep equality never sees it
  }
  return f;
}

/** The event's delta frame (`delta=true` streams), built once like {@link frameOf}. */
function deltaFrameOf(e: StoredEvent, json: string): Buffer {
  const holder = e as StoredEvent & { [DELTA_FRAME]?: Buffer };
  let f = holder[DELTA_FRAME];
  if (f === undefined) {
    f = Buffer.from(eventFrame(e.seq, e.type, json));
    Object.defineProperty(holder, DELTA_FRAME, { value: f });
  }
  return f;
}
