/**
 * The connection: the I/O shell of the leader (or solo) tab that keeps the log reader fed. It
 * bootstraps from a snapshot (active tasks + the log's head), then reads the log from that head
 * on a stream (a {@link StreamTransport}), bridged by the {@link Poller} whenever the stream
 * fails or goes silent. It owns the stream's lifecycle: watchdog, reconnect backoff, the learned
 * heartbeat interval, host signals (network, visibility). State goes to the one status holder,
 * events and cursor moves to the one log reader.
 */
import type { Task } from '@taskpulse/protocol';
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
import { createPoller } from './poller.ts';
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

/** The connection, as the client drives it. */
export interface Connection {
  /**
   * Starts reading. With a cursor (a tab taking over from another) it resumes from it; without,
   * it first loads the snapshot of active tasks so the page shows them at once.
   */
  start(): void;
  /** Reads `/v1/events` now (a tab became visible, a follower asked, the network came back). */
  catchUp(): void;
  /** Reopens the stream with the current token (after a proactive token refresh), from the cursor. */
  restartStream(): void;
  /** Stops everything; the state becomes `closed`. Safe to call more than once. */
  close(): void;
  /** The connection's own figures (the client adds state, cursor and delivery health). */
  diagnostics(): Partial<ConnectionDiagnostics>;
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

// A closure rather than a class: the same one-owner shell, and the bundle carries plain locals
// instead of a `this.#field` per use (docs/benchmarks.md, client bundle).
export function createConnection(deps: ConnectionDeps): Connection {
  const { config, env, http, reader, status, health } = deps;
  const { timers } = env;
  const polling = config.transport === 'polling';
  const heartbeat = new HeartbeatInterval(config.heartbeatMs);
  const gaps = new GapDetector(config.poll.liveSafetyMs);
  const metrics = new MetricsReporter(config.metricsIntervalMs, http, env, health);
  let transport: StreamTransport = new FetchStream(http, env);
  let closed = false;
  let started = false;
  const offs: Array<() => void> = [];

  // the current stream
  let streaming = false;
  let openedAt: number | null = null;
  let frames = 0;
  let resetPending = false;
  /**
   * The current stream's tasks as it last sent them, to make its delta events whole (`delta=true`:
   * a `task.updated` may carry only what changed since the task's `seq` was `base`; the server
   * sends one only when it sent this stream the task at `base`). A finished task is forgotten.
   */
  const held = new Map<string, Task>();
  let serverRetryMs: number | undefined;
  let streams = 0;
  let watchdog: unknown;
  let reconnectTimer: unknown;
  let attempts = 0;
  let bootstrapTimer: unknown;
  let bootstrapAttempts = 0;
  let lastFreshAt: number | null = null;

  const poller = createPoller(config, env, http, reader, gaps, {
    closed: () => closed,
    state: () => status.state,
    visibleHidden: () => env.visibility.hidden(),
    activeTasks: deps.activeTasks,
    freshAt: () => lastFreshAt,
    ok: () => {
      markFresh();
      transition('poll_ok');
    },
    failed: () => transition('poll_failed'),
    unauthorized: () => unauthorized(),
    resetWithoutSnapshot: () => bootstrap(true),
  });

  // ------------------------------------------------------------------ state

  /** Feeds `event` to the state machine; the reason is the event's own name unless given. */
  function transition(event: ConnectionEvent, reason = event as StateReason): void {
    const before = status.state;
    status.set(nextState(before, event, config.transport), reason);
    if (status.state !== before) poller.schedule();
  }

  function markFresh(): void {
    lastFreshAt = env.now();
  }

  /** The stream's reconnect backoff, also used for bootstrap retries. */
  const backoffMs = (attempt: number) => fullJitterMs(attempt, { baseMs: config.reconnectBaseMs, maxMs: config.reconnectMaxMs }, env.random);

  // ------------------------------------------------------------------ bootstrap

  async function bootstrap(reset = false): Promise<void> {
    try {
      const snapshot = await fetchSnapshot(http);
      if (closed) return;
      bootstrapAttempts = 0;
      reader.snapshot(snapshot, reset, 'own');
      markFresh();
      poller.touch();
      if (!reset) afterBootstrap();
    } catch (error) {
      if (closed) return;
      if (isUnauthorized(error)) transition('offline', 'unauthorized');
      // Offline: the `online` signal bootstraps again; no point retrying before.
      if (!env.network.online()) return;
      bootstrapTimer = timers.setTimeout(() => void bootstrap(reset), backoffMs(bootstrapAttempts++));
    }
  }

  function afterBootstrap(): void {
    // Credentials were refused during bootstrap and are usable again.
    if (status.state === 'offline') status.set('connecting', 'start');
    if (polling) void poller.poll(false);
    else openStream();
    poller.schedule();
  }

  // ------------------------------------------------------------------ stream

  function stopStream(): void {
    streaming = false;
    transport.close();
    timers.clearTimeout(watchdog);
  }

  function armWatchdog(): void {
    timers.clearTimeout(watchdog);
    watchdog = timers.setTimeout(() => streamFailed('watchdog'), 2 * heartbeat.ms);
  }

  /** The stream's events, for the transport: one object, so a stale stream's calls are the transport's to drop. */
  const listener: StreamListener = {
    bytes: () => onBytes(),
    retry: (ms) => {
      serverRetryMs = ms;
      onBytes();
    },
    message: (m) => onMessage(m),
    failed: (reason, error) => {
      if (error instanceof TaskPulseClientError && error.retryAfterMs !== undefined) serverRetryMs = error.retryAfterMs;
      streamFailed(reason);
    },
    unauthorized: () => unauthorized(),
    unsupported: () => {
      if (env.EventSource === undefined) return streamFailed('stream_http_error');
      transport.close();
      transport = new EventSourceStream(config.url, http, env);
      transport.open(query(), listener);
    },
  };

  function query() {
    // Ask for heartbeats at the interval the watchdog plans with, so a silent stream is noticed in 2 × that.
    return { after: reader.cursor ?? 0, coalesce: config.coalesce ? 'true' : undefined, delta: config.delta ? 'true' : undefined, heartbeatMs: config.heartbeatMs };
  }

  function openStream(): void {
    // Not while the network is down; while credentials are refused, yes: that is the retry.
    if (closed || polling || !env.network.online()) return;
    stopStream();
    timers.clearTimeout(reconnectTimer);
    streaming = true;
    openedAt = null;
    frames = 0;
    resetPending = false;
    held.clear();
    heartbeat.streamOpened();
    gaps.streamOpened();
    streams++;
    // The watchdog also covers a stream whose answer never comes (a proxy holding the socket).
    armWatchdog();
    transport.open(query(), listener);
  }

  /** Data arrived on the stream: the first bytes make it live; any bytes feed the watchdog. */
  function onBytes(): void {
    armWatchdog();
    if (openedAt !== null) return;
    openedAt = env.now();
    transition('stream_open');
  }

  function onMessage(message: SseMessage): void {
    onBytes();
    frames++;
    try {
      handleMessage(message);
    } catch {
      // A frame we cannot read: drop the stream and resume from the cursor rather than guess.
      streamFailed('stream_error');
    }
  }

  function handleMessage({ event, data }: SseMessage): void {
    switch (event) {
      case 'heartbeat': {
        const { head, last } = parseHeartbeat(data);
        heartbeat.heartbeat(env.now());
        if (gaps.heartbeat(head, last, reader.cursor, env.now(), poller.busy)) void poller.poll(true);
        else reader.advance(head);
        markFresh();
        poller.schedule();
        return;
      }
      case 'reset':
        resetPending = true;
        return;
      case 'snapshot': {
        const snapshot = parseSnapshot(data);
        for (const t of snapshot.tasks) held.set(t.id, t);
        reader.snapshot(snapshot, resetPending, 'stream');
        resetPending = false;
        markFresh();
        return;
      }
      default: {
        if (!isEventFrame(event)) return; // future event types
        const e = parseEvent(data);
        const t = e.task;
        if (t) {
          if (e.base !== undefined) {
            // Not the task this stream sent at `base`: dropped and resumed from the cursor (below).
            if (held.get(t.id)?.seq !== e.base) throw e;
            e.task = { ...held.get(t.id)!, ...t };
            delete e.base;
          }
          if (e.type === 'task.updated' || e.type === 'task.created') held.set(t.id, e.task!);
          else held.delete(t.id);
        }
        gaps.event();
        markFresh();
        reader.events([e], 'stream');
      }
    }
  }

  function streamFailed(reason: StreamFailure | 'watchdog'): void {
    if (closed) return;
    const hadFrames = frames > 0;
    const wasPolling = status.state === 'polling';
    stopStream();
    if (openedAt !== null && env.now() - openedAt >= config.stableAfterMs) attempts = 0;
    transition(reason === 'watchdog' ? 'watchdog' : 'stream_failed', reason);
    scheduleReconnect(hadFrames ? 0 : (serverRetryMs ?? 0));
    // Entering polling: bridge the gap at once, whatever the stream did not deliver a poll reads.
    // (Already polling: the poll timer runs; a failed retry of the stream changes nothing.)
    if (status.state === 'polling' && !wasPolling) void poller.poll(false);
  }

  function scheduleReconnect(minimumMs: number): void {
    timers.clearTimeout(reconnectTimer);
    if (closed || (status.state === 'offline' && status.current.reason === 'offline')) return;
    const delay = Math.max(minimumMs, backoffMs(attempts));
    attempts++;
    health.reconnected();
    reconnectTimer = timers.setTimeout(openStream, delay);
  }

  function reconnectNow(): void {
    attempts = 0;
    openStream();
  }

  function unauthorized(): void {
    if (closed) return;
    stopStream();
    transition('offline', 'unauthorized');
    // Keep trying: every attempt asks getToken() again, and the app may have signed in meanwhile.
    timers.clearTimeout(reconnectTimer);
    reconnectTimer = timers.setTimeout(() => {
      if (polling) void poller.poll(false);
      else openStream();
    }, backoffMs(attempts++));
  }

  // ------------------------------------------------------------------ host signals

  function onVisibility(): void {
    if (env.visibility.hidden()) return poller.schedule();
    // Visible again: catch up at once, and if push is down try it now rather than at the backoff.
    catchUp();
  }

  function onNetwork(): void {
    if (closed) return;
    if (!env.network.online()) {
      stopStream();
      timers.clearTimeout(reconnectTimer);
      transition('offline');
      return;
    }
    if (status.state !== 'offline') return;
    transition('online');
    if (reader.cursor === null) return void bootstrap();
    attempts = 0;
    void poller.poll(false);
    if (!polling) reconnectNow();
  }

  function catchUp(): void {
    if (closed || reader.cursor === null || !env.network.online()) return;
    void poller.poll(false);
    if (!polling && status.state !== 'live' && !streaming) reconnectNow();
  }

  return {
    start() {
      if (started || closed) return;
      started = true;
      offs.push(env.visibility.subscribe(onVisibility), env.network.subscribe(onNetwork));
      metrics.start();
      if (!env.network.online()) return transition('offline');
      if (reader.cursor === null) void bootstrap();
      else afterBootstrap();
    },
    catchUp,
    restartStream() {
      // openStream() checks closed, polling and the network itself.
      if (reader.cursor !== null) openStream();
    },
    close() {
      if (closed) return;
      closed = true;
      stopStream();
      timers.clearTimeout(reconnectTimer);
      timers.clearTimeout(bootstrapTimer);
      poller.stop();
      metrics.stop();
      for (const off of offs.splice(0)) off();
      status.set('closed', 'closed');
    },
    diagnostics: () => ({
      lastFreshAt,
      pollIntervalMs: poller.interval(),
      heartbeatMs: heartbeat.ms,
      reconnectAttempts: attempts,
      streamTransport: polling ? 'none' : transport.kind,
      requests: { streams, ...poller.requests },
      gapsRepaired: poller.gapsRepaired,
    }),
  };
}
