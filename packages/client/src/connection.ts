/**
 * The connection manager: the I/O shell around the pure modules (state machine, backoff, poll
 * policy, cursor, SSE parser). One per browser (the leader tab) or per Node client.
 *
 * It bootstraps from a snapshot (active tasks + the log's head), then reads the log from that
 * head by SSE, bridged by `/v1/events` polls whenever the stream fails or goes silent. Every
 * async step checks a generation number afterwards, so a stale stream or poll can never act on
 * the current state.
 */
import type { EventsResponse, Snapshot, TaskEvent } from '@taskpulse/protocol';
import { isEventFrame, parseEvent, parseHeartbeat, parseSnapshot, STREAM_FRAME_TYPES } from '@taskpulse/protocol/frames';
import { fullJitterMs as backoffDelayMs } from '@taskpulse/protocol/retry';
import type { Cursor } from './cursor.ts';
import type { DeliveryHealth, DeliveryReport } from './delivery-health.ts';
import type { Environment, EventSourceLike } from './environment.ts';
import { TaskPulseClientError } from './errors.ts';
import { type Http, queryString, toError } from './http.ts';
import type { ClientConfig } from './options.ts';
import { HeartbeatInterval } from './heartbeat-interval.ts';
import { pollIntervalMs } from './poll-policy.ts';
import { fetchSnapshot } from './snapshot.ts';
import { type SseMessage, SseParser } from './sse-parser.ts';
import {
  type ConnectionEvent,
  type ConnectionState,
  nextState,
  type StateChange,
  type StateReason,
} from './state-machine.ts';

/** Where the connection delivers what it reads. */
export interface ConnectionSink {
  /** New events, in order, already deduplicated against the cursor. */
  events(events: TaskEvent[]): void;
  /** A snapshot of the active tasks as of `head`; `reset` when the log no longer held our cursor. */
  snapshot(snapshot: Snapshot, reset: boolean): void;
  /** The cursor moved without an event (a heartbeat's or a poll's head). */
  cursorAdvanced(cursor: number): void;
  state(change: StateChange): void;
  /** Tasks known to be queued or running (drives the poll interval). */
  activeTasks(): number;
}

/** The connection's figures, part of `client.diagnostics()`. */
export interface ConnectionDiagnostics {
  state: ConnectionState;
  reason: StateReason;
  /** The `seq` of the last event applied, `null` before the first snapshot. */
  cursor: number | null;
  /** When the last event arrived (client clock, ms since epoch), or `null`. */
  lastEventAt: number | null;
  /** When the client last had proof it was up to date (event, heartbeat at the head, poll). */
  lastFreshAt: number | null;
  /** The current interval between polls, `null` while polling is paused. */
  pollIntervalMs: number | null;
  /** The heartbeat interval planned with: learned from the stream, else the configured one. */
  heartbeatMs: number;
  /** Reconnect attempts since the stream was last stable. */
  reconnectAttempts: number;
  /** How the stream is read: `fetch` streaming, `eventsource`, or `none` (polling only). */
  streamTransport: 'fetch' | 'eventsource' | 'none';
  /** Requests made since start. */
  requests: { streams: number; polls: number; catchUps: number };
  /** Catch-up reads that found events the stream had not delivered. */
  gapsRepaired: number;
  /** Totals since start: time per state, worst staleness, reconnects. */
  delivery: DeliveryReport;
}


export interface ConnectionDeps {
  config: ClientConfig;
  env: Environment;
  http: Http;
  cursor: Cursor;
  sink: ConnectionSink;
  health: DeliveryHealth;
}


export class Connection {
  #config: ClientConfig;
  #env: Environment;
  #http: Http;
  #cursor: Cursor;
  #sink: ConnectionSink;
  #health: DeliveryHealth;

  #state: ConnectionState = 'connecting';
  #reason: StateReason = 'start';
  #closed = false;
  #started = false;

  // stream
  #streamGen = 0;
  #streamAbort: AbortController | null = null;
  #eventSource: EventSourceLike | null = null;
  #streamOpenedAt: number | null = null;
  #streamFrames = 0;
  #serverRetryMs: number | undefined;
  #resetPending = false;
  #eventsSinceHeartbeat = false;
  #fetchStreaming = true;
  #watchdog: unknown;
  #heartbeat: HeartbeatInterval;
  #reconnectTimer: unknown;
  #bootstrapTimer: unknown;
  #attempts = 0;

  // polling
  #polling = false;
  #pollAgain = false;
  #pollTimer: unknown;
  #lastPollAt = 0;
  #failures = 0;
  /** No poll before this time: the server's `Retry-After`. */
  #pollNotBefore = 0;
  #lastGapCheckAt = -Infinity;
  /**
   * Stream events held back while a catch-up read fills a suspected gap: applied after it, so
   * a later event can never move the cursor past the missing ones.
   */
  #held: TaskEvent[] | null = null;
  #lastGapCheckFound = true;

  // freshness and figures
  #lastEventAt: number | null = null;
  #lastFreshAt: number | null = null;
  #requests = { streams: 0, polls: 0, catchUps: 0 };
  #gapsRepaired = 0;
  #metricsTimer: unknown;
  #metricsDisabled = false;
  #unsubscribe: Array<() => void> = [];
  #bootstrapAttempts = 0;

  constructor(deps: ConnectionDeps) {
    this.#config = deps.config;
    this.#env = deps.env;
    this.#http = deps.http;
    this.#cursor = deps.cursor;
    this.#sink = deps.sink;
    this.#health = deps.health;
    this.#heartbeat = new HeartbeatInterval(deps.config.heartbeatMs);
  }

  get state(): ConnectionState {
    return this.#state;
  }

  get reason(): StateReason {
    return this.#reason;
  }

  /**
   * Starts reading. With a cursor (a tab taking over from another) it resumes from it; without,
   * it first loads the snapshot of active tasks so the page shows them at once.
   */
  start(): void {
    if (this.#started || this.#closed) return;
    this.#started = true;
    const { visibility, network } = this.#env;
    this.#unsubscribe.push(
      visibility.subscribe(() => this.#onVisibility()),
      network.subscribe(() => this.#onNetwork()),
    );
    this.#scheduleMetrics();
    if (!network.online()) return this.#transition('offline', 'offline');
    if (this.#cursor.value === null) void this.#bootstrap();
    else this.#afterBootstrap();
  }

  /** Reads `/v1/events` now (a tab became visible, a follower asked, the network came back). */
  catchUp(): void {
    if (this.#closed || this.#cursor.value === null || !this.#env.network.online()) return;
    void this.#poll(false);
    if (this.#config.transport !== 'polling' && this.#state !== 'live' && this.#streamAbort === null && this.#eventSource === null) {
      this.#reconnectNow();
    }
  }

  /** Reopens the stream with the current token (after a proactive token refresh), from the cursor. */
  restartStream(): void {
    if (this.#closed || this.#config.transport === 'polling' || !this.#env.network.online() || this.#cursor.value === null) return;
    this.#stopStream();
    void this.#openStream();
  }

  /** Stops everything; the state becomes `closed`. Safe to call more than once. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#stopStream();
    const t = this.#env.timers;
    t.clearTimeout(this.#reconnectTimer);
    t.clearTimeout(this.#bootstrapTimer);
    t.clearTimeout(this.#pollTimer);
    t.clearTimeout(this.#metricsTimer);
    for (const off of this.#unsubscribe.splice(0)) off();
    this.#setState('closed', 'closed');
  }

  diagnostics(): ConnectionDiagnostics {
    return {
      state: this.#state,
      reason: this.#reason,
      cursor: this.#cursor.value,
      lastEventAt: this.#lastEventAt,
      lastFreshAt: this.#lastFreshAt,
      pollIntervalMs: this.#interval(),
      heartbeatMs: this.#heartbeat.ms,
      reconnectAttempts: this.#attempts,
      streamTransport: this.#config.transport === 'polling' ? 'none' : this.#fetchStreaming ? 'fetch' : 'eventsource',
      requests: { ...this.#requests },
      gapsRepaired: this.#gapsRepaired,
      delivery: this.#health.totals(this.#env.now()),
    };
  }

  // ------------------------------------------------------------------ state

  #transition(event: ConnectionEvent, reason: StateReason): void {
    this.#setState(nextState(this.#state, event, this.#config.transport), reason);
  }

  #setState(next: ConnectionState, reason: StateReason): void {
    if (next === this.#state) return;
    const previous = this.#state;
    this.#state = next;
    this.#reason = reason;
    this.#health.state(next, this.#env.now());
    this.#sink.state({ previous, current: next, reason });
    this.#schedulePoll();
  }

  #markFresh(): void {
    this.#lastFreshAt = this.#env.now();
  }

  // ------------------------------------------------------------------ bootstrap

  async #bootstrap(reset = false): Promise<void> {
    try {
      const snapshot = await fetchSnapshot(this.#http);
      if (this.#closed) return;
      this.#bootstrapAttempts = 0;
      this.#cursor.resetTo(snapshot.head);
      this.#sink.snapshot(snapshot, reset);
      this.#markFresh();
      this.#lastPollAt = this.#env.now();
      if (!reset) this.#afterBootstrap();
    } catch (error) {
      if (this.#closed) return;
      if (isUnauthorized(error)) this.#transition('offline', 'unauthorized');
      // Offline: the `online` signal bootstraps again; no point retrying before.
      if (!this.#env.network.online()) return;
      const delay = backoffDelayMs(this.#bootstrapAttempts++, this.#backoff(), this.#env.random);
      this.#bootstrapTimer = this.#env.timers.setTimeout(() => void this.#bootstrap(reset), delay);
    }
  }

  #afterBootstrap(): void {
    if (this.#state === 'offline') {
      // Credentials were refused during bootstrap and are usable again.
      this.#setState('connecting', 'start');
    }
    if (this.#config.transport === 'polling') void this.#poll(false);
    else void this.#openStream();
    this.#schedulePoll();
  }

  // ------------------------------------------------------------------ stream

  #stopStream(): void {
    this.#streamGen++;
    this.#streamAbort?.abort();
    this.#streamAbort = null;
    this.#eventSource?.close();
    this.#eventSource = null;
    this.#env.timers.clearTimeout(this.#watchdog);
  }

  #armWatchdog(gen: number): void {
    const t = this.#env.timers;
    t.clearTimeout(this.#watchdog);
    this.#watchdog = t.setTimeout(() => this.#streamFailed(gen, 'watchdog'), 2 * this.#heartbeat.ms);
  }

  async #openStream(): Promise<void> {
    // Not while the network is down; while credentials are refused, yes: that is the retry.
    if (this.#closed || this.#config.transport === 'polling' || !this.#env.network.online()) return;
    this.#stopStream();
    this.#env.timers.clearTimeout(this.#reconnectTimer);
    const gen = this.#streamGen;
    const controller = new AbortController();
    this.#streamAbort = controller;
    this.#streamOpenedAt = null;
    this.#heartbeat.streamOpened();
    this.#streamFrames = 0;
    this.#resetPending = false;
    this.#eventsSinceHeartbeat = false;
    this.#requests.streams++;
    // The watchdog also covers a stream whose answer never comes (a proxy holding the socket).
    this.#armWatchdog(gen);
    // Ask for heartbeats at the interval the watchdog plans with, so a silent stream is noticed in 2 × that.
    const query = { after: this.#cursor.value ?? 0, coalesce: this.#config.coalesce ? 'true' : undefined, heartbeatMs: this.#config.heartbeatMs };
    if (!this.#fetchStreaming) return this.#openEventSource(gen, query);
    try {
      const response = await this.#http.send('GET', '/v1/stream', {
        query,
        signal: controller.signal,
        noTimeout: true,
        headers: { accept: 'text/event-stream' },
      });
      if (gen !== this.#streamGen) return void response.body?.cancel().catch(() => {});
      if (!response.ok) {
        const error = await toError(response, this.#env.now());
        if (error.retryAfterMs !== undefined) this.#serverRetryMs = error.retryAfterMs;
        return this.#streamFailed(gen, 'stream_http_error', error);
      }
      const body = response.body;
      if (body === null || typeof body.getReader !== 'function') {
        if (this.#env.EventSource === undefined) return this.#streamFailed(gen, 'stream_http_error');
        this.#fetchStreaming = false;
        return this.#openEventSource(gen, query);
      }
      // Not live yet: headers alone prove nothing (a buffering proxy passes them and holds the
      // body). The first bytes parsed — the server's `retry:` line, sent at once — do.
      const reader = body.getReader();
      const decoder = new TextDecoder();
      const parser = new SseParser({
        onMessage: (m) => this.#onMessage(gen, m),
        onRetry: (ms) => {
          this.#serverRetryMs = ms;
          this.#onBytes(gen);
        },
      });
      for (;;) {
        const { done, value } = await reader.read();
        if (gen !== this.#streamGen) {
          void reader.cancel().catch(() => {});
          return;
        }
        if (done) break;
        parser.feed(decoder.decode(value, { stream: true }));
      }
      this.#streamFailed(gen, 'stream_ended');
    } catch (error) {
      if (gen !== this.#streamGen) return;
      if (isUnauthorized(error)) return this.#unauthorized(gen);
      this.#streamFailed(gen, 'stream_error', error);
    }
  }

  /** Fallback for hosts where `fetch` cannot stream: EventSource with `?access_token=`. */
  async #openEventSource(gen: number, query: Record<string, string | number | undefined>): Promise<void> {
    const ES = this.#env.EventSource;
    if (ES === undefined) return this.#streamFailed(gen, 'stream_http_error');
    let token: string;
    try {
      token = await this.#http.token();
    } catch {
      return this.#unauthorized(gen);
    }
    if (gen !== this.#streamGen) return;
    const source = new ES(`${this.#config.url}/v1/stream${queryString({ ...query, access_token: token })}`);
    this.#eventSource = source;
    source.onopen = () => {
      if (gen === this.#streamGen) this.#streamOpened(gen);
    };
    // We own reconnects (from our cursor, with our backoff): the browser's are switched off by closing.
    source.onerror = () => this.#streamFailed(gen, 'stream_error');
    for (const type of STREAM_FRAME_TYPES) {
      source.addEventListener(type, (e) => {
        if (gen !== this.#streamGen) return;
        this.#onMessage(gen, { event: type, data: String(e.data ?? ''), id: e.lastEventId });
      });
    }
  }

  #streamOpened(gen: number): void {
    this.#streamOpenedAt = this.#env.now();
    this.#armWatchdog(gen);
    this.#transition('stream_open', 'stream_open');
  }

  /** Data arrived on the stream: the first bytes make it live; any bytes feed the watchdog. */
  #onBytes(gen: number): void {
    if (gen !== this.#streamGen) return;
    if (this.#streamOpenedAt === null) this.#streamOpened(gen);
    else this.#armWatchdog(gen);
  }

  #onMessage(gen: number, message: SseMessage): void {
    if (gen !== this.#streamGen) return;
    this.#onBytes(gen);
    this.#streamFrames++;
    try {
      this.#handleMessage(message);
    } catch (error) {
      // A frame we cannot read: drop the stream and resume from the cursor rather than guess.
      this.#streamFailed(gen, 'stream_error', error);
    }
  }

  #handleMessage({ event, data }: SseMessage): void {
    const now = this.#env.now();
    switch (event) {
      case 'heartbeat': {
        const { head, last } = parseHeartbeat(data);
        this.#heartbeat.heartbeat(now);
        this.#onHeartbeat(head, last);
        return;
      }
      case 'reset':
        this.#resetPending = true;
        return;
      case 'snapshot': {
        const snapshot = parseSnapshot(data);
        this.#cursor.resetTo(snapshot.head);
        this.#sink.snapshot(snapshot, this.#resetPending);
        this.#resetPending = false;
        this.#markFresh();
        return;
      }
      default: {
        if (!isEventFrame(event)) return; // future event types
        const e = parseEvent(data);
        this.#eventsSinceHeartbeat = true;
        this.#lastEventAt = now;
        this.#markFresh();
        if (this.#held !== null) {
          this.#held.push(e);
          return;
        }
        if (!this.#cursor.accept(e.seq)) return;
        this.#health.delivered(Date.parse(e.at), now);
        this.#sink.events([e]);
      }
    }
  }

  /**
   * A heartbeat promises every matching event up to `head` is already on this stream. With
   * `last` (the seq of the last event the server wrote to this stream) a catch-up read is made
   * exactly when that event never arrived. Without it, a head beyond the cursor is normal for a
   * filtered reader (other owners' events), so a catch-up read is made when no event came since
   * the last heartbeat — at once the first time, then at most once per safety interval while
   * such reads keep finding nothing.
   */
  #onHeartbeat(head: number, last: number | undefined): void {
    const cursor = this.#cursor.value;
    const quiet = !this.#eventsSinceHeartbeat;
    this.#eventsSinceHeartbeat = false;
    const now = this.#env.now();
    const allowed = this.#lastGapCheckFound || now - this.#lastGapCheckAt >= this.#config.poll.liveSafetyMs;
    // A server that says which event it sent last (`last`) settles it: a gap only if that one is
    // beyond the cursor. Without it, a head beyond the cursor may just be other owners' events.
    const suspect = cursor !== null && (last !== undefined ? last > cursor : head > cursor && quiet && allowed);
    if (suspect && !this.#polling) {
      this.#lastGapCheckAt = now;
      this.#held = [];
      void this.#poll(true);
    } else {
      this.#cursor.advanceTo(head);
      if (cursor !== null && head > cursor) this.#sink.cursorAdvanced(head);
    }
    this.#markFresh();
    this.#schedulePoll();
  }

  #streamFailed(gen: number, reason: StateReason, _error?: unknown): void {
    if (gen !== this.#streamGen || this.#closed) return;
    const hadFrames = this.#streamFrames > 0;
    const openedAt = this.#streamOpenedAt;
    const wasPolling = this.#state === 'polling';
    this.#stopStream();
    if (openedAt !== null && this.#env.now() - openedAt >= this.#config.stableAfterMs) this.#attempts = 0;
    this.#transition(reason === 'watchdog' ? 'watchdog' : 'stream_failed', reason);
    this.#scheduleReconnect(hadFrames ? 0 : (this.#serverRetryMs ?? 0));
    // Entering polling: bridge the gap at once, whatever the stream did not deliver a poll reads.
    // (Already polling: the poll timer runs; a failed retry of the stream changes nothing.)
    if (this.#state === 'polling' && !wasPolling) void this.#poll(false);
  }

  #backoff() {
    return { baseMs: this.#config.reconnectBaseMs, maxMs: this.#config.reconnectMaxMs };
  }

  #scheduleReconnect(minimumMs: number): void {
    const t = this.#env.timers;
    t.clearTimeout(this.#reconnectTimer);
    if (this.#closed || this.#state === 'offline' && this.#reason === 'offline') return;
    const delay = Math.max(minimumMs, backoffDelayMs(this.#attempts, this.#backoff(), this.#env.random));
    this.#attempts++;
    this.#health.reconnected();
    this.#reconnectTimer = t.setTimeout(() => void this.#openStream(), delay);
  }

  #reconnectNow(): void {
    this.#attempts = 0;
    this.#env.timers.clearTimeout(this.#reconnectTimer);
    void this.#openStream();
  }

  #unauthorized(gen: number): void {
    if (gen !== this.#streamGen || this.#closed) return;
    this.#stopStream();
    this.#transition('offline', 'unauthorized');
    // Keep trying: every attempt asks getToken() again, and the app may have signed in meanwhile.
    const t = this.#env.timers;
    t.clearTimeout(this.#reconnectTimer);
    const delay = backoffDelayMs(this.#attempts++, this.#backoff(), this.#env.random);
    this.#reconnectTimer = t.setTimeout(() => {
      if (this.#config.transport === 'polling') void this.#poll(false);
      else void this.#openStream();
    }, delay);
  }

  // ------------------------------------------------------------------ polling

  #interval(): number | null {
    if (this.#config.transport === 'sse' || this.#closed) return null;
    return pollIntervalMs(
      {
        state: this.#state,
        hidden: this.#env.visibility.hidden(),
        activeTasks: this.#sink.activeTasks(),
        msSinceFresh: this.#lastFreshAt === null ? Infinity : this.#env.now() - this.#lastFreshAt,
        failures: this.#failures,
      },
      this.#config.poll,
    );
  }

  #schedulePoll(): void {
    const t = this.#env.timers;
    t.clearTimeout(this.#pollTimer);
    if (this.#closed || this.#polling || this.#cursor.value === null) return;
    const interval = this.#interval();
    if (interval === null) return;
    const now = this.#env.now();
    const delay = Math.max(0, this.#lastPollAt + interval - now, this.#pollNotBefore - now);
    this.#pollTimer = t.setTimeout(() => void this.#poll(false), delay);
  }

  /**
   * Reads the log from the cursor until it is exhausted.
   * @param gapCheck - a catch-up read asked for by a heartbeat.
   */
  async #poll(gapCheck: boolean): Promise<void> {
    if (this.#polling) {
      this.#pollAgain = true;
      return;
    }
    if (this.#closed || this.#cursor.value === null || !this.#env.network.online()) return;
    this.#polling = true;
    this.#env.timers.clearTimeout(this.#pollTimer);
    let found = 0;
    try {
      for (;;) {
        const after = this.#cursor.value;
        if (gapCheck) this.#requests.catchUps++;
        else this.#requests.polls++;
        const res = await this.#http.json<EventsResponse>('GET', '/v1/events', { query: { after, limit: this.#config.pollLimit } });
        if (this.#closed) return;
        if (res.reset) {
          if (res.tasks) {
            this.#cursor.resetTo(res.head);
            this.#sink.snapshot({ head: res.head, tasks: res.tasks }, true);
          } else {
            await this.#bootstrap(true);
          }
          break;
        }
        const now = this.#env.now();
        const accepted = res.events.filter((e) => this.#cursor.accept(e.seq));
        if (accepted.length > 0) {
          found += accepted.length;
          this.#lastEventAt = now;
          for (const e of accepted) this.#health.delivered(Date.parse(e.at), now);
          this.#sink.events(accepted);
        }
        if (res.events.length < this.#config.pollLimit) {
          const before = this.#cursor.value;
          this.#cursor.advanceTo(res.head);
          if (accepted.length === 0 && before !== this.#cursor.value) this.#sink.cursorAdvanced(res.head);
          break;
        }
      }
      this.#failures = 0;
      this.#lastPollAt = this.#env.now();
      this.#markFresh();
      if (gapCheck) {
        this.#lastGapCheckFound = found > 0;
        if (found > 0) this.#gapsRepaired++;
      }
      this.#transition('poll_ok', 'poll_ok');
    } catch (error) {
      if (this.#closed) return;
      this.#failures++;
      this.#lastPollAt = this.#env.now();
      // 429/503 with Retry-After: that is the minimum wait (STYLE: errors and retries).
      if (error instanceof TaskPulseClientError && error.retryAfterMs !== undefined) {
        this.#pollNotBefore = this.#lastPollAt + error.retryAfterMs;
      }
      if (isUnauthorized(error)) {
        this.#polling = false;
        return this.#unauthorized(this.#streamGen);
      }
      this.#transition('poll_failed', 'poll_failed');
    } finally {
      this.#polling = false;
      if (gapCheck) this.#releaseHeld();
    }
    if (this.#pollAgain) {
      this.#pollAgain = false;
      void this.#poll(false);
    } else {
      this.#schedulePoll();
    }
  }

  #releaseHeld(): void {
    const held = this.#held;
    this.#held = null;
    if (held === null || this.#closed) return;
    const now = this.#env.now();
    const accepted = held.filter((e) => this.#cursor.accept(e.seq));
    for (const e of accepted) this.#health.delivered(Date.parse(e.at), now);
    if (accepted.length > 0) this.#sink.events(accepted);
  }

  // ------------------------------------------------------------------ host signals

  #onVisibility(): void {
    if (this.#env.visibility.hidden()) return this.#schedulePoll();
    // Visible again: catch up at once, and if push is down try it now rather than at the backoff.
    this.catchUp();
  }

  #onNetwork(): void {
    if (this.#closed) return;
    if (!this.#env.network.online()) {
      this.#stopStream();
      this.#env.timers.clearTimeout(this.#reconnectTimer);
      this.#transition('offline', 'offline');
      return;
    }
    if (this.#state !== 'offline') return;
    this.#transition('online', 'online');
    if (this.#cursor.value === null) return void this.#bootstrap();
    this.#attempts = 0;
    void this.#poll(false);
    if (this.#config.transport !== 'polling') this.#reconnectNow();
  }

  // ------------------------------------------------------------------ delivery health

  #scheduleMetrics(): void {
    const every = this.#config.metricsIntervalMs;
    if (every === 0 || this.#metricsDisabled || this.#closed) return;
    this.#metricsTimer = this.#env.timers.setTimeout(() => void this.#reportMetrics(), every);
  }

  async #reportMetrics(): Promise<void> {
    const body = this.#health.takeWindow(this.#env.now());
    try {
      const res = await this.#http.send('POST', '/v1/client-metrics', { body });
      // An older server without the endpoint: stop asking, silently.
      if (res.status === 404) this.#metricsDisabled = true;
      void res.body?.cancel().catch(() => {});
    } catch {
      // Health reports are best effort.
    }
    this.#scheduleMetrics();
  }
}

function isUnauthorized(error: unknown): boolean {
  return error instanceof TaskPulseClientError && error.code === 'unauthorized';
}
