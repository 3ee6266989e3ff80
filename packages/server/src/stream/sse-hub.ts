/**
 * The stream hub: fans committed events out to SSE readers and wakes long polls.
 *
 * A new reader first catches up from the store (snapshot or events after its cursor), then goes
 * live in the same turn of the event loop as its last read ends, so no event falls between the
 * two. Live events come from the bus; a gap (another instance's events, a lost message) is filled
 * from the store, which is the truth.
 *
 * Every read of the log (cursor check, snapshot, pages) goes through the event reader
 * (event-reader.ts), the same one `/v1/events` answers from.
 *
 * Catch-up is paced (catch-up.ts): a page at a time, in slices of `catchUpSliceMs` per turn of the
 * event loop, at the reader's pace (the socket must drain), with pages shared by readers at the
 * same cursor; so a storm of resuming readers leaves other requests a turn every slice.
 *
 * Time: one real timer ticks (every 250 ms at most, finer for short heartbeats) and each tick
 * reads the injected clock (`HubDeps.now`) to decide heartbeats, the stall rule, a stream's
 * maximum lifetime, credential expiry and re-checks, and head checks; so a test that skips time
 * on the clock sees all of them at the next tick, without waiting.
 */
import type { ServerResponse } from 'node:http';
import { resetFrame, retryFrame, snapshotFrame } from '@taskpulse/protocol/frames';
import type { EventFilter, StoredEvent } from '../store/store.ts';
import type { Bus } from '../bus/bus.ts';
import type { EventReader } from './event-reader.ts';
import { SseConnection, type ConnectionConfig } from './sse-connection.ts';
import { matches } from './event-filter.ts';
import { Pacer, PageCache } from './catch-up.ts';
import { HeadWaiter } from './head-waiter.ts';

/** Catch-up writes go out in pieces of about this size: one write per ~25 events, below the lag mark. */
const CATCH_UP_WRITE_BYTES = 16 * 1024;

export interface HubConfig {
  heartbeatMs: number;
  retryMs: number;
  bufferBytes: number;
  lagBytes: number;
  /** Close streams after this long with a `retry:` hint (for proxies that cut long requests); 0 = never. */
  maxStreamMs: number;
  pageSize: number;
  /** A reader that takes no bytes for this long while bytes wait for it is closed (live or catching up). */
  stallMs: number;
  /** Catch-up work per turn of the event loop, all readers together. @defaultValue 10 */
  catchUpSliceMs?: number;
  /** Compare the store's head with the hub's this often and fill a gap (0 = never: in-process bus). */
  headCheckMs?: number;
  /**
   * Re-check every open stream's credential this often (a key revoked on another instance, or by
   * the CLI, is noticed within this plus the key cache's lifetime). 0 = never.
   */
  credentialCheckMs?: number;
}

/** What keeps a stream's credential valid while it is open. */
export interface StreamCredential {
  /** The stream ends at this time (ms since epoch): a viewer token's `exp`. */
  expiresAtMs?: number;
  /** Resolves false once the credential is no longer accepted (a revoked key); rejects when it cannot tell. */
  check?: () => Promise<boolean>;
}

/**
 * Credential checks in flight at once during a round: a round over 10,000 streams must not hold
 * 10,000 verifications (and their promises and buffers) at the same moment.
 */
const CHECKS_IN_FLIGHT = 16;

/** Bus events kept past a gap at most (beyond, the fill reads them from the store). */
const AHEAD_LIMIT = 10_000;

export interface HubDeps {
  /** The log's one read path (cursor checks, snapshots, catch-up pages, gap fills). */
  reader: EventReader;
  /** Wakes the hub with committed events (from this instance or others). */
  bus: Bus;
  /** Called once per event delivered to at least one stream (the delivery-lag metric). */
  onDelivered?: (e: StoredEvent) => void;
  /**
   * The clock, in milliseconds since the epoch, that heartbeats, the stall rule, the maximum
   * stream lifetime, credential expiry and re-checks and head checks read (tests skip time).
   * @defaultValue Date.now
   */
  now?: () => number;
  /** Advanced as events are dispatched, for the waits of long polls; the hub's own when absent. */
  heads?: HeadWaiter;
}

export interface OpenOptions {
  filter: EventFilter;
  /** Resume after this seq; null opens with a snapshot. */
  after: number | null;
  coalesce: boolean;
  /** `task.updated` events as deltas where the stream holds the task (sse-connection.ts). */
  delta?: boolean;
  /** This stream's heartbeat interval; the hub's default when absent. */
  heartbeatMs?: number;
  /** The stream ends when its credential expires or is revoked; the client reconnects with a fresh one. */
  credential?: StreamCredential;
}

export class StreamHub {
  readonly #config: HubConfig;
  readonly #deps: HubDeps;
  #head = 0;
  #staff = new Set<SseConnection>();
  #byOwner = new Map<string, Set<SseConnection>>();
  #filling = false;
  #refill = false;
  /**
   * Events from the bus past a gap in the seqs, kept while the gap is read from the store: with
   * several instances, an instance's own events often arrive before another's that precede them,
   * and reading only the gap spares reading (and merging) its own events back from the store.
   */
  readonly #ahead = new Map<number, StoredEvent>();
  #timer: NodeJS.Timeout | null = null;
  #unsubscribe: (() => void) | null = null;
  #closed = false;
  readonly #pacer: Pacer;
  readonly #pages: PageCache;
  readonly #now: () => number;
  readonly #heads: HeadWaiter;

  constructor(config: HubConfig, deps: HubDeps) {
    this.#config = config;
    this.#deps = deps;
    this.#now = deps.now ?? Date.now;
    this.#pacer = new Pacer(config.catchUpSliceMs ?? 10);
    // 32 pages of 500 events: a few tens of MB at most, gone 5 s after the storm.
    this.#pages = new PageCache(32, 5000, this.#now);
    this.#lastCredentialCheck = this.#now();
    this.#heads = deps.heads ?? new HeadWaiter();
  }

  get head(): number {
    return this.#head;
  }

  /** Heartbeats written to streams still catching up, since start (diagnostics, tests). */
  get catchUpHeartbeats(): number {
    return this.#catchUpHeartbeats;
  }

  #catchUpHeartbeats = 0;

  get size(): number {
    let n = this.#staff.size;
    for (const s of this.#byOwner.values()) n += s.size;
    return n;
  }

  async start(): Promise<void> {
    this.#head = await this.#deps.reader.head();
    this.#heads.advance(this.#head);
    this.#unsubscribe = this.#deps.bus.subscribe((events) => this.#onBus(events));
    // Streams may ask for their own heartbeat interval, so the timer ticks finer than the default.
    this.#timer = setInterval(() => this.#heartbeat(), Math.min(250, this.#config.heartbeatMs));
    this.#timer.unref();
  }

  /** Takes over `res` as an SSE stream for a reader that is allowed to see `filter`. */
  async open(res: ServerResponse, opts: OpenOptions): Promise<void> {
    const conn = new SseConnection(res, opts.filter, this.#connConfig(opts.coalesce, opts.delta ?? false, opts.heartbeatMs), this.#removeConnection);
    conn.credential = opts.credential;
    conn.writeRaw(retryFrame(this.#config.retryMs));
    if (this.#closed) return conn.close();
    this.#add(conn); // from here the tick ends it at its maximum lifetime, whatever its state
    try {
      let after = opts.after;
      if (after !== null) {
        const cursor = await this.#deps.reader.cursor(after);
        if (cursor.status === 'reset') {
          conn.writeRaw(resetFrame(cursor.head, cursor.reason));
          after = null;
        }
      }
      if (after === null) {
        const snap = await this.#deps.reader.snapshot(opts.filter);
        conn.writeRaw(snapshotFrame(snap));
        conn.learnTasks(snap.tasks);
        after = snap.head;
      }
      conn.cursor = after;
      conn.resumed = true;
      // Catch up from the store page by page until we reach what the hub has dispatched.
      const { pageSize } = this.#config;
      // The first page starts at a multiple of the page size at or below the cursor, so readers
      // resuming from nearby cursors share their reads from the start; the events at or below
      // this reader's cursor are passed over (send ignores them).
      let from = after - (after % pageSize);
      for (;;) {
        // Each check of the pacer is followed by its work with no await between (catch-up.ts).
        while (!this.#pacer.open) await this.#pacer.next();
        if (conn.isClosed) return;
        const at = from;
        const page = await this.#pages.read(at, opts.filter, pageSize, () => this.#deps.reader.page(at, opts.filter, pageSize));
        const { events } = page;
        while (!this.#pacer.open) await this.#pacer.next();
        if (conn.isClosed) return;
        for (let i = 0; i < events.length; ) {
          i = conn.sendBatch(events, i, CATCH_UP_WRITE_BYTES);
          if (conn.isClosed) return;
          // A long backlog goes out no faster than the reader takes it, rather than piling up in
          // memory; and what follows a drain is catch-up work like any other (many streams
          // drain in the same turn: unpaced, their writes would add up to one long stall).
          if (conn.res.writableNeedDrain) {
            await conn.drained();
            while (!this.#pacer.open) await this.#pacer.next();
            if (conn.isClosed) return;
          }
        }
        // Every matching event up to the page's head is written: the cursor is there now (even
        // when all of them were at or below it), and the next page starts after it.
        conn.skip(page.head);
        from = conn.cursor;
        // Synchronous from here: going live in the same turn as the check means no event is missed.
        if (!page.full && conn.cursor >= this.#head) {
          conn.state = 'live';
          conn.lastHeartbeatAt = this.#now();
          return;
        }
      }
    } catch (error) {
      conn.close();
      throw error;
    }
  }

  /**
   * Resolves when an event after `after` has been committed, or after `timeoutMs` of wall time
   * (a long poll's wait is its request's: a real timer, not the injected clock).
   */
  waitForEvent(after: number, timeoutMs: number, signal?: AbortSignal): Promise<void> {
    return this.#heads.wait(after, timeoutMs, signal);
  }

  /** Closes every stream with a `retry:` hint so readers reconnect (elsewhere, or after a restart). */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#timer) clearInterval(this.#timer);
    this.#unsubscribe?.();
    for (const c of this.#all()) c.close(retryFrame(this.#config.retryMs));
    // Release long polls at once.
    this.#head = Number.MAX_SAFE_INTEGER;
    this.#ahead.clear();
    this.#heads.close();
  }

  /** Streams with the default heartbeat share one config object (per `coalesce` and `delta`), not one each. */
  readonly #sharedConfigs = new Map<string, ConnectionConfig>();

  #connConfig(coalesce: boolean, delta: boolean, heartbeatMs?: number): ConnectionConfig {
    const make = (ms: number): ConnectionConfig => ({ bufferBytes: this.#config.bufferBytes, lagBytes: this.#config.lagBytes, coalesce, delta, heartbeatMs: ms, stallMs: this.#config.stallMs, now: this.#now });
    if (heartbeatMs !== undefined && heartbeatMs !== this.#config.heartbeatMs) return make(heartbeatMs);
    const key = `${coalesce}/${delta}`;
    let shared = this.#sharedConfigs.get(key);
    if (!shared) this.#sharedConfigs.set(key, (shared = make(this.#config.heartbeatMs)));
    return shared;
  }

  #onBus(events: StoredEvent[]): void {
    if (this.#filling) {
      this.#refill = true;
      this.#keep(events, 0);
      return;
    }
    let expected = this.#head + 1;
    for (let i = 0; i < events.length; i++) {
      const e = events[i]!;
      if (e.seq < expected) continue; // already dispatched
      if (e.seq !== expected) {
        this.#keep(events, i);
        return void this.#fill();
      }
      this.#dispatch(e);
      expected++;
    }
  }

  #keep(events: readonly StoredEvent[], from: number): void {
    for (let i = from; i < events.length && this.#ahead.size < AHEAD_LIMIT; i++) {
      const e = events[i]!;
      if (e.seq > this.#head) this.#ahead.set(e.seq, e);
    }
  }

  /** Dispatches the kept events that continue the head; the first kept seq past a gap, or null. */
  #drainAhead(): number | null {
    for (let e = this.#ahead.get(this.#head + 1); e !== undefined; e = this.#ahead.get(this.#head + 1)) {
      this.#ahead.delete(e.seq);
      this.#dispatch(e);
    }
    let next: number | null = null;
    for (const seq of this.#ahead.keys()) {
      if (seq <= this.#head) this.#ahead.delete(seq);
      else if (next === null || seq < next) next = seq;
    }
    return next;
  }

  async #fill(): Promise<void> {
    this.#filling = true;
    try {
      do {
        this.#refill = false;
        for (;;) {
          const next = this.#drainAhead();
          // Only the gap before the events in hand (all that follows when none are).
          const page = await this.#deps.reader.page(this.#head, {}, next === null ? 1000 : Math.min(1000, next - this.#head - 1));
          for (const e of page.events) if (e.seq === this.#head + 1) this.#dispatch(e);
          if (!page.full && (next === null || this.#head + 1 < next)) break;
        }
      } while (this.#refill);
      // Kept events the store could not continue yet: the next tick tries again.
      if (this.#drainAhead() !== null) this.#refill = true;
    } catch {
      // The store is unreachable: the next bus message or heartbeat retries.
      this.#refill = true;
    } finally {
      this.#filling = false;
    }
  }

  #dispatch(e: StoredEvent): void {
    this.#head = e.seq;
    let sent = false;
    for (const c of this.#staff) sent = this.#offer(c, e) || sent;
    const owned = this.#byOwner.get(e.owner);
    if (owned) for (const c of owned) sent = this.#offer(c, e) || sent;
    // Once per event, not per stream: with 10,000 streams the lag metric would cost more than the writes.
    if (sent) this.#deps.onDelivered?.(e);
    this.#heads.advance(e.seq);
  }

  /** Sends `e` to `c` if it is live and wants it; true when it was sent. */
  #offer(c: SseConnection, e: StoredEvent): boolean {
    if (c.state !== 'live') return false; // still catching up from the store: it will read this event there
    if (!matches(e, c.filter)) {
      c.skip(e.seq);
      return false;
    }
    c.send(e);
    return true;
  }

  #lastHeadCheck = 0;
  #lastCredentialCheck: number;
  #checkingCredentials = false;
  #recheckAgain = false;

  /**
   * Re-checks every open stream's credential now (a key was just revoked here) and ends the
   * streams whose credential is no longer accepted. A check that cannot tell (storage down)
   * keeps the stream: only a definite "no" ends it.
   */
  async recheckCredentials(): Promise<void> {
    if (this.#checkingCredentials) {
      this.#recheckAgain = true; // a revocation during a check must not wait for the next period
      return;
    }
    this.#checkingCredentials = true;
    this.#lastCredentialCheck = this.#now();
    try {
      do {
        this.#recheckAgain = false;
        const streams = [...this.#all()].filter((c) => c.credential?.check);
        let next = 0;
        const checkNext = async (): Promise<void> => {
          while (next < streams.length) {
            const c = streams[next++]!;
            const check = c.credential?.check;
            if (!check) continue; // closed meanwhile
            if (!(await check().catch(() => true))) this.#endForCredential(c);
          }
        };
        await Promise.all(Array.from({ length: Math.min(CHECKS_IN_FLIGHT, streams.length) }, checkNext));
      } while (this.#recheckAgain);
    } finally {
      this.#checkingCredentials = false;
      // The period runs from the end of a round: a long round is not followed by another at once.
      this.#lastCredentialCheck = this.#now();
    }
  }

  #endForCredential(c: SseConnection): void {
    // A clean end with the usual `retry:`: the client reconnects, its old credential gets a 401
    // and it asks for a fresh one (the SDK's getToken); a browser's EventSource retries too.
    c.close(retryFrame(this.#config.retryMs));
  }

  #heartbeat(): void {
    if (this.#refill && !this.#filling) void this.#fill();
    const now = this.#now();
    const every = this.#config.headCheckMs ?? 0;
    if (every > 0 && !this.#filling && now - this.#lastHeadCheck >= every) {
      this.#lastHeadCheck = now;
      void this.#deps.reader
        .head()
        .then((head) => {
          if (head > this.#head && !this.#filling) void this.#fill();
        })
        .catch(() => {});
    }
    const checkEvery = this.#config.credentialCheckMs ?? 0;
    if (checkEvery > 0 && !this.#checkingCredentials && now - this.#lastCredentialCheck >= checkEvery) void this.recheckCredentials();
    for (const c of this.#all()) {
      const exp = c.credential?.expiresAtMs;
      const { maxStreamMs } = this.#config;
      if (exp !== undefined && now >= exp) this.#endForCredential(c);
      // For proxies that cut long requests: a clean end with `retry:`, before they cut it.
      else if (maxStreamMs > 0 && now - c.openedAt >= maxStreamMs) c.close(retryFrame(this.#config.retryMs));
      else if (c.checkStall(now)) continue;
      else if (now - c.lastHeartbeatAt >= c.heartbeatMs - 50) {
        const catchingUp = c.state === 'catching-up';
        if (c.heartbeat(this.#head) && catchingUp) this.#catchUpHeartbeats++;
      }
    }
  }

  /**
   * Every open stream. No copies: a Set (and the Map of them) may lose entries while it is
   * iterated (a stream closed at the tick) and the iteration goes on with the rest.
   */
  *#all(): Iterable<SseConnection> {
    yield* this.#staff;
    for (const s of this.#byOwner.values()) yield* s;
  }

  #add(c: SseConnection): void {
    const owner = c.filter.owner;
    if (owner === undefined) this.#staff.add(c);
    else {
      const set = this.#byOwner.get(owner) ?? new Set();
      set.add(c);
      this.#byOwner.set(owner, set);
    }
  }

  readonly #removeConnection = (c: SseConnection): void => this.#remove(c);

  #remove(c: SseConnection): void {
    const owner = c.filter.owner;
    if (owner === undefined) this.#staff.delete(c);
    else {
      const set = this.#byOwner.get(owner);
      set?.delete(c);
      if (set && set.size === 0) this.#byOwner.delete(owner);
    }
  }
}
