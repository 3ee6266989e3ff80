/**
 * The connection: the I/O shell of the leader (or solo) tab that keeps the log reader fed. It
 * bootstraps from a snapshot (active tasks + the log's head), then reads the log from that head
 * on a stream (a {@link StreamTransport}), bridged by the {@link Poller} whenever the stream
 * fails or goes silent. It owns the stream's lifecycle: watchdog, reconnect backoff, the learned
 * heartbeat interval, host signals (network, visibility). State goes to the one status holder,
 * events and cursor moves to the one log reader.
 */
import { isEventFrame, parseEvent, parseHeartbeat, parseSnapshot } from '@taskpulse/protocol/frames';
import { fullJitterMs } from '@taskpulse/protocol/retry';
import type { ConnectionStatusHolder } from './connection-status.ts';
import type { DeliveryHealth, DeliveryReport } from './delivery-health.ts';
import type { Environment } from './environment.ts';
import { isUnauthorized, TaskPulseClientError } from './errors.ts';
import { EventSourceStream } from './event-source-stream.ts';
import { FetchStream } from './fetch-stream.ts';
import { GapDetector } from './gap-detector.ts';
import { HeartbeatInterval } from './heartbeat-interval.ts';
import type { Http } from './http.ts';
import type { LogReader } from './log-reader.ts';
import { MetricsReporter } from './metrics-reporter.ts';
import type { ClientConfig } from './options.ts';
import { Poller } from './poller.ts';
import { fetchSnapshot } from './snapshot.ts';
import type { SseMessage } from './sse-parser.ts';
import { type ConnectionEvent, type ConnectionState, nextState, type StateReason } from './state-machine.ts';
import type { StreamFailure, StreamListener, StreamTransport } from './stream-transport.ts';

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
  reader: LogReader;
  status: ConnectionStatusHolder;
  health: DeliveryHealth;
  /** Tasks known to be queued or running (drives the poll interval). */
  activeTasks(): number;
}

export class Connection {
  #config: ClientConfig;
  #env: Environment;
  #http: Http;
  #reader: LogReader;
  #status: ConnectionStatusHolder;
  #health: DeliveryHealth;
  #poller: Poller;
  #gaps: GapDetector;
  #metrics: MetricsReporter;
  #heartbeat: HeartbeatInterval;
  #transport: StreamTransport;
  #closed = false;
  #started = false;
  #offs: Array<() => void> = [];

  // the current stream
  #streaming = false;
  #openedAt: number | null = null;
  #frames = 0;
  #resetPending = false;
  #serverRetryMs: number | undefined;
  #streams = 0;
  #watchdog: unknown;
  #reconnectTimer: unknown;
  #attempts = 0;
  #bootstrapTimer: unknown;
  #bootstrapAttempts = 0;
  #lastFreshAt: number | null = null;

  constructor(deps: ConnectionDeps) {
    const { config, env, http, reader, health } = deps;
    this.#config = config;
    this.#env = env;
    this.#http = http;
    this.#reader = reader;
    this.#status = deps.status;
    this.#health = health;
    this.#heartbeat = new HeartbeatInterval(config.heartbeatMs);
    this.#gaps = new GapDetector(config.poll.liveSafetyMs);
    this.#metrics = new MetricsReporter(config.metricsIntervalMs, http, env, health);
    this.#transport = new FetchStream(http, env);
    this.#poller = new Poller(config, env, http, reader, this.#gaps, {
      closed: () => this.#closed,
      state: () => this.#status.state,
      visibleHidden: () => env.visibility.hidden(),
      activeTasks: deps.activeTasks,
      freshAt: () => this.#lastFreshAt,
      ok: () => {
        this.#markFresh();
        this.#transition('poll_ok', 'poll_ok');
      },
      failed: () => this.#transition('poll_failed', 'poll_failed'),
      unauthorized: () => this.#unauthorized(),
      resetWithoutSnapshot: () => this.#bootstrap(true),
    });
  }

  /**
   * Starts reading. With a cursor (a tab taking over from another) it resumes from it; without,
   * it first loads the snapshot of active tasks so the page shows them at once.
   */
  start(): void {
    if (this.#started || this.#closed) return;
    this.#started = true;
    const { visibility, network } = this.#env;
    this.#offs.push(
      visibility.subscribe(() => this.#onVisibility()),
      network.subscribe(() => this.#onNetwork()),
    );
    this.#metrics.start();
    if (!network.online()) return this.#transition('offline', 'offline');
    if (this.#reader.cursor === null) void this.#bootstrap();
    else this.#afterBootstrap();
  }

  /** Reads `/v1/events` now (a tab became visible, a follower asked, the network came back). */
  catchUp(): void {
    if (this.#closed || this.#reader.cursor === null || !this.#env.network.online()) return;
    void this.#poller.poll(false);
    if (this.#config.transport !== 'polling' && this.#status.state !== 'live' && !this.#streaming) this.#reconnectNow();
  }

  /** Reopens the stream with the current token (after a proactive token refresh), from the cursor. */
  restartStream(): void {
    if (this.#closed || this.#config.transport === 'polling' || !this.#env.network.online() || this.#reader.cursor === null) return;
    this.#openStream();
  }

  /** Stops everything; the state becomes `closed`. Safe to call more than once. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#stopStream();
    const t = this.#env.timers;
    t.clearTimeout(this.#reconnectTimer);
    t.clearTimeout(this.#bootstrapTimer);
    this.#poller.stop();
    this.#metrics.stop();
    for (const off of this.#offs.splice(0)) off();
    this.#status.set('closed', 'closed');
  }

  /** The connection's own figures (the client adds state, cursor and delivery health). */
  diagnostics(): Partial<ConnectionDiagnostics> {
    return {
      lastFreshAt: this.#lastFreshAt,
      pollIntervalMs: this.#poller.interval(),
      heartbeatMs: this.#heartbeat.ms,
      reconnectAttempts: this.#attempts,
      streamTransport: this.#config.transport === 'polling' ? 'none' : this.#transport.kind,
      requests: { streams: this.#streams, ...this.#poller.requests },
      gapsRepaired: this.#poller.gapsRepaired,
    };
  }

  // ------------------------------------------------------------------ state

  #transition(event: ConnectionEvent, reason: StateReason): void {
    const before = this.#status.state;
    this.#status.set(nextState(before, event, this.#config.transport), reason);
    if (this.#status.state !== before) this.#poller.schedule();
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
      this.#reader.snapshot(snapshot, reset, 'own');
      this.#markFresh();
      this.#poller.touch();
      if (!reset) this.#afterBootstrap();
    } catch (error) {
      if (this.#closed) return;
      if (isUnauthorized(error)) this.#transition('offline', 'unauthorized');
      // Offline: the `online` signal bootstraps again; no point retrying before.
      if (!this.#env.network.online()) return;
      const delay = fullJitterMs(this.#bootstrapAttempts++, this.#backoff(), this.#env.random);
      this.#bootstrapTimer = this.#env.timers.setTimeout(() => void this.#bootstrap(reset), delay);
    }
  }

  #afterBootstrap(): void {
    // Credentials were refused during bootstrap and are usable again.
    if (this.#status.state === 'offline') this.#status.set('connecting', 'start');
    if (this.#config.transport === 'polling') void this.#poller.poll(false);
    else this.#openStream();
    this.#poller.schedule();
  }

  // ------------------------------------------------------------------ stream

  #stopStream(): void {
    this.#streaming = false;
    this.#transport.close();
    this.#env.timers.clearTimeout(this.#watchdog);
  }

  #armWatchdog(): void {
    const t = this.#env.timers;
    t.clearTimeout(this.#watchdog);
    this.#watchdog = t.setTimeout(() => this.#streamFailed('watchdog'), 2 * this.#heartbeat.ms);
  }

  /** The stream's events, for the transport: bound once, so a stale stream's calls are the transport's to drop. */
  #listener: StreamListener = {
    bytes: () => this.#onBytes(),
    retry: (ms) => {
      this.#serverRetryMs = ms;
      this.#onBytes();
    },
    message: (m) => this.#onMessage(m),
    failed: (reason, error) => {
      if (error instanceof TaskPulseClientError && error.retryAfterMs !== undefined) this.#serverRetryMs = error.retryAfterMs;
      this.#streamFailed(reason);
    },
    unauthorized: () => this.#unauthorized(),
    unsupported: () => {
      if (this.#env.EventSource === undefined) return this.#streamFailed('stream_http_error');
      this.#transport.close();
      this.#transport = new EventSourceStream(this.#config.url, this.#http, this.#env);
      this.#transport.open(this.#query(), this.#listener);
    },
  };

  #query() {
    // Ask for heartbeats at the interval the watchdog plans with, so a silent stream is noticed in 2 × that.
    return { after: this.#reader.cursor ?? 0, coalesce: this.#config.coalesce ? 'true' : undefined, heartbeatMs: this.#config.heartbeatMs };
  }

  #openStream(): void {
    // Not while the network is down; while credentials are refused, yes: that is the retry.
    if (this.#closed || this.#config.transport === 'polling' || !this.#env.network.online()) return;
    this.#stopStream();
    this.#env.timers.clearTimeout(this.#reconnectTimer);
    this.#streaming = true;
    this.#openedAt = null;
    this.#frames = 0;
    this.#resetPending = false;
    this.#heartbeat.streamOpened();
    this.#gaps.streamOpened();
    this.#streams++;
    // The watchdog also covers a stream whose answer never comes (a proxy holding the socket).
    this.#armWatchdog();
    this.#transport.open(this.#query(), this.#listener);
  }

  /** Data arrived on the stream: the first bytes make it live; any bytes feed the watchdog. */
  #onBytes(): void {
    this.#armWatchdog();
    if (this.#openedAt !== null) return;
    this.#openedAt = this.#env.now();
    this.#transition('stream_open', 'stream_open');
  }

  #onMessage(message: SseMessage): void {
    this.#onBytes();
    this.#frames++;
    try {
      this.#handleMessage(message);
    } catch {
      // A frame we cannot read: drop the stream and resume from the cursor rather than guess.
      this.#streamFailed('stream_error');
    }
  }

  #handleMessage({ event, data }: SseMessage): void {
    switch (event) {
      case 'heartbeat': {
        const { head, last } = parseHeartbeat(data);
        this.#heartbeat.heartbeat(this.#env.now());
        if (this.#gaps.heartbeat(head, last, this.#reader.cursor, this.#env.now(), this.#poller.busy)) void this.#poller.poll(true);
        else this.#reader.advance(head);
        this.#markFresh();
        this.#poller.schedule();
        return;
      }
      case 'reset':
        this.#resetPending = true;
        return;
      case 'snapshot':
        this.#reader.snapshot(parseSnapshot(data), this.#resetPending, 'stream');
        this.#resetPending = false;
        this.#markFresh();
        return;
      default: {
        if (!isEventFrame(event)) return; // future event types
        const e = parseEvent(data);
        this.#gaps.event();
        this.#markFresh();
        this.#reader.events([e], 'stream');
      }
    }
  }

  #streamFailed(reason: StreamFailure | 'watchdog'): void {
    if (this.#closed) return;
    const hadFrames = this.#frames > 0;
    const openedAt = this.#openedAt;
    const wasPolling = this.#status.state === 'polling';
    this.#stopStream();
    if (openedAt !== null && this.#env.now() - openedAt >= this.#config.stableAfterMs) this.#attempts = 0;
    this.#transition(reason === 'watchdog' ? 'watchdog' : 'stream_failed', reason);
    this.#scheduleReconnect(hadFrames ? 0 : (this.#serverRetryMs ?? 0));
    // Entering polling: bridge the gap at once, whatever the stream did not deliver a poll reads.
    // (Already polling: the poll timer runs; a failed retry of the stream changes nothing.)
    if (this.#status.state === 'polling' && !wasPolling) void this.#poller.poll(false);
  }

  #backoff() {
    return { baseMs: this.#config.reconnectBaseMs, maxMs: this.#config.reconnectMaxMs };
  }

  #scheduleReconnect(minimumMs: number): void {
    const t = this.#env.timers;
    t.clearTimeout(this.#reconnectTimer);
    if (this.#closed || (this.#status.state === 'offline' && this.#status.current.reason === 'offline')) return;
    const delay = Math.max(minimumMs, fullJitterMs(this.#attempts, this.#backoff(), this.#env.random));
    this.#attempts++;
    this.#health.reconnected();
    this.#reconnectTimer = t.setTimeout(() => this.#openStream(), delay);
  }

  #reconnectNow(): void {
    this.#attempts = 0;
    this.#openStream();
  }

  #unauthorized(): void {
    if (this.#closed) return;
    this.#stopStream();
    this.#transition('offline', 'unauthorized');
    // Keep trying: every attempt asks getToken() again, and the app may have signed in meanwhile.
    const t = this.#env.timers;
    t.clearTimeout(this.#reconnectTimer);
    const delay = fullJitterMs(this.#attempts++, this.#backoff(), this.#env.random);
    this.#reconnectTimer = t.setTimeout(() => {
      if (this.#config.transport === 'polling') void this.#poller.poll(false);
      else this.#openStream();
    }, delay);
  }

  // ------------------------------------------------------------------ host signals

  #onVisibility(): void {
    if (this.#env.visibility.hidden()) return this.#poller.schedule();
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
    if (this.#status.state !== 'offline') return;
    this.#transition('online', 'online');
    if (this.#reader.cursor === null) return void this.#bootstrap();
    this.#attempts = 0;
    void this.#poller.poll(false);
    if (this.#config.transport !== 'polling') this.#reconnectNow();
  }
}
