/**
 * What a user passes to `createClient`, its defaults and its validation. Bad options fail loudly
 * when the client is built; nothing is silently replaced by a default.
 */
import type { Environment } from './environment.ts';
import { clientError } from './errors.ts';
import type { PollPolicyConfig } from './poll-policy.ts';
import type { TransportMode } from './state-machine.ts';

/** Timing defaults, in milliseconds unless the name says otherwise. */
export const DEFAULTS = Object.freeze({
  transport: 'auto' as TransportMode,
  /** Must match the server's `--heartbeat-ms`; the watchdog fires after 2 × this. */
  heartbeatMs: 2_000,
  /** First reconnect delay scale; doubled per attempt, with full jitter. */
  reconnectBaseMs: 1_000,
  /** Cap of the reconnect delay. */
  reconnectMaxMs: 30_000,
  /** A stream that stayed up this long resets the backoff. */
  stableAfterMs: 10_000,
  /** Any HTTP request (not the stream) is aborted after this long. */
  requestTimeoutMs: 15_000,
  liveSafetyMs: 30_000,
  liveQuietMs: 12_000,
  quietAfterMs: 15_000,
  degradedMinMs: 1_000,
  degradedMaxMs: 5_000,
  hiddenFactor: 4,
  /** Events per poll (`limit` of `/v1/events`). */
  pollLimit: 500,
  /** How often delivery health is sent to `POST /v1/client-metrics`; 0 disables it. */
  metricsIntervalMs: 60_000,
  /** Refresh a token with a known expiry this long before it expires (capped at 10 % of its lifetime). */
  tokenRefreshLeadMs: 30_000,
  /** Share one connection between the tabs of a browser when Web Locks and BroadcastChannel exist. */
  multiTab: true,
  /** Ask the stream to skip superseded progress of a task when this reader falls behind. */
  coalesce: false,
  /** Ask the stream for progress events that carry only what changed (`delta=true`); the client makes them whole. */
  delta: true,
  /** Successful browser notifications close themselves after this long. */
  notificationAutoCloseMs: 5_000,
});

/** Options of `createClient`. */
export interface ClientOptions {
  /** Base URL of the TaskPulse server, e.g. `https://tasks.example.com` (no trailing `/v1`). */
  url: string;
  /** A credential: a viewer token (JWT) or an API key. Give this, `getToken`, or both. */
  token?: string;
  /**
   * Returns a fresh credential. Called when there is no `token`, when the server answers 401,
   * and shortly before a JWT's `exp`; the connection then resumes from its cursor.
   */
  getToken?: () => string | Promise<string>;
  /** A `fetch` to use instead of the global one (proxies, extra headers, tests). */
  fetch?: Environment['fetch'];
  /**
   * How events arrive: `auto` (SSE, polling while it fails), `sse` only, or `polling` only (for
   * networks where streams are blocked).
   * @defaultValue `'auto'`
   */
  transport?: TransportMode;
  /**
   * The heartbeat interval in ms the client asks the server for on its stream (`heartbeatMs` query
   * parameter, 100–60000) and plans with until it has measured it (two gaps); the watchdog fires
   * after 2 × the interval, so 2000 keeps the worst staleness of a silently stalled stream under
   * 5 s. @defaultValue 2000
   */
  heartbeatMs?: number;
  /** Reconnect backoff scale in ms. @defaultValue 1000 */
  reconnectBaseMs?: number;
  /** Reconnect backoff cap in ms. @defaultValue 30000 */
  reconnectMaxMs?: number;
  /** Timeout of each HTTP request in ms (the stream has the watchdog instead). @defaultValue 15000 */
  requestTimeoutMs?: number;
  /** Poll intervals in ms; see `poll-policy.ts`. */
  poll?: Partial<PollPolicyConfig>;
  /**
   * Let the server skip superseded `task.updated` events of a task when this reader falls
   * behind (`coalesce=true` on the stream): views stay current under progress floods, but
   * `onEvent` may then miss intermediate progress (never milestones). @defaultValue `false`
   */
  coalesce?: boolean;
  /**
   * Ask the stream for `task.updated` events that carry only the fields that changed
   * (`delta=true`): the client makes every event whole again before views, `onEvent` and other
   * tabs see it, so nothing changes for the app but the bytes on the wire (a task's `input`,
   * `stages` and `metadata` are not sent again with each progress report). @defaultValue `true`
   */
  delta?: boolean;
  /** Interval of delivery-health reports in ms; `0` disables them. @defaultValue 60000 */
  metricsIntervalMs?: number;
  /**
   * One connection per browser and origin, shared by its tabs (Web Locks + BroadcastChannel).
   * `false` gives every client its own connection. A string names the channel (tabs with the same
   * name share; the default name is derived from `url`).
   * @defaultValue `true`
   */
  multiTab?: boolean | string;
  /**
   * Show completions and failures as system notifications (browser `Notification` API) when the
   * user granted permission; ask for it with `client.notifications.requestPermission()` from a
   * click handler. @defaultValue `false`
   */
  browserNotifications?: boolean;
  /**
   * Replaces host facilities (timers, clock, visibility, network, Web Locks, BroadcastChannel…);
   * for tests and unusual hosts.
   */
  environment?: Partial<Environment>;
}

/** Options once defaults are resolved. */
export interface ClientConfig {
  url: string;
  token: string | undefined;
  getToken: (() => string | Promise<string>) | undefined;
  transport: TransportMode;
  heartbeatMs: number;
  reconnectBaseMs: number;
  reconnectMaxMs: number;
  stableAfterMs: number;
  requestTimeoutMs: number;
  poll: PollPolicyConfig;
  pollLimit: number;
  metricsIntervalMs: number;
  tokenRefreshLeadMs: number;
  multiTab: string | false;
  coalesce: boolean;
  delta: boolean;
  browserNotifications: boolean;
  notificationAutoCloseMs: number;
}

/** The server accepts per-stream heartbeats of 0.1–60 s, in whole milliseconds. */
function heartbeatInterval(value: unknown): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 100 || value > 60_000) {
    throw clientError('invalid_options', {}, `\`heartbeatMs\` must be a whole number of milliseconds from 100 to 60000, got ${String(value)}`);
  }
  return value;
}

function positive(name: string, value: unknown, allowZero = false): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0 || (!allowZero && value === 0)) {
    throw clientError('invalid_options', {}, `\`${name}\` must be a ${allowZero ? 'non-negative' : 'positive'} number of milliseconds, got ${String(value)}`);
  }
  return value;
}

const POLL_KEYS = ['liveSafetyMs', 'liveQuietMs', 'quietAfterMs', 'degradedMinMs', 'degradedMaxMs', 'hiddenFactor'] as const;

/** Validates options and fills in defaults; throws `invalid_options` naming the bad field. */
export function resolveOptions(options: ClientOptions): ClientConfig {
  if (options === null || typeof options !== 'object') throw clientError('invalid_options', {}, 'createClient needs an options object');
  const { url, token, getToken } = options;
  if (typeof url !== 'string') throw clientError('invalid_options', {}, `\`url\` must be a string, got ${typeof url}`);
  if (token !== undefined && (typeof token !== 'string' || token === '')) throw clientError('invalid_options', {}, '`token` must be a non-empty string');
  if (getToken !== undefined && typeof getToken !== 'function') throw clientError('invalid_options', {}, '`getToken` must be a function');
  if (token === undefined && getToken === undefined) throw clientError('invalid_options', {}, 'give `token` or `getToken`');
  const transport = options.transport ?? DEFAULTS.transport;
  if (transport !== 'auto' && transport !== 'sse' && transport !== 'polling') {
    throw clientError('invalid_options', {}, `\`transport\` must be 'auto', 'sse' or 'polling', got ${String(transport)}`);
  }
  const poll = options.poll ?? {};
  const multiTab = options.multiTab ?? DEFAULTS.multiTab;
  const base = url.replace(/\/+$/, '');
  /** The option `name`, or its default, checked to be a number of milliseconds. */
  const ms = (name: 'reconnectBaseMs' | 'reconnectMaxMs' | 'requestTimeoutMs' | 'metricsIntervalMs', allowZero?: boolean) => positive(name, options[name] ?? DEFAULTS[name], allowZero);
  return {
    // Tunables that are not options (stableAfterMs, pollLimit, tokenRefreshLeadMs, notificationAutoCloseMs) keep their default.
    ...DEFAULTS,
    url: base,
    token,
    getToken,
    transport,
    heartbeatMs: heartbeatInterval(options.heartbeatMs ?? DEFAULTS.heartbeatMs),
    reconnectBaseMs: ms('reconnectBaseMs'),
    reconnectMaxMs: ms('reconnectMaxMs'),
    requestTimeoutMs: ms('requestTimeoutMs'),
    // Checked in this order, so the first bad one is named.
    poll: Object.fromEntries(POLL_KEYS.map((key) => [key, positive(`poll.${key}`, poll[key] ?? DEFAULTS[key])])) as Record<(typeof POLL_KEYS)[number], number>,
    metricsIntervalMs: ms('metricsIntervalMs', true),
    multiTab: multiTab === false ? false : typeof multiTab === 'string' ? multiTab : `taskpulse:${base}`,
    coalesce: options.coalesce ?? DEFAULTS.coalesce,
    delta: options.delta ?? DEFAULTS.delta,
    browserNotifications: options.browserNotifications ?? false,
  };
}
