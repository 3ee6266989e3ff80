/**
 * Where the example pages find their server and credentials: the query string wins over
 * `window.TASKPULSE`, which wins over the defaults (same origin; the user's task list).
 *
 *   ?url=https://tasks.example.com&token=<viewer token>&task=tsk_…&transport=polling&heartbeatMs=2000
 *
 *   <script>window.TASKPULSE = { url: 'https://tasks.example.com', getToken: () => fetch('/token').then((r) => r.text()) };</script>
 */
import type { TransportMode } from '@taskpulse/client';

/** What a host page may set before the example's script runs. */
export interface PageGlobals {
  /** Server base URL. @defaultValue the page's origin */
  url?: string;
  /** A viewer token (`POST /v1/tokens`). */
  token?: string;
  /** Returns a fresh viewer token (called at start and on 401). */
  getToken?: () => string | Promise<string>;
  /** Show this task only; without it the page lists the viewer's tasks. */
  taskId?: string;
  /** `auto` (default), `sse` or `polling`. */
  transport?: TransportMode;
  /** The server's heartbeat interval in ms, if not the default 5000. */
  heartbeatMs?: number;
}

/** The resolved page configuration. */
export interface PageConfig {
  url: string;
  token: string | undefined;
  getToken: (() => string | Promise<string>) | undefined;
  taskId: string | undefined;
  transport: TransportMode | undefined;
  heartbeatMs: number | undefined;
}

/** Thrown when the page has no credential or a bad setting; the page shows the message. */
export class ConfigError extends Error {
  override name = 'ConfigError';
}

/**
 * Reads the configuration.
 * @param search - `location.search`
 * @param origin - `location.origin`, the default server
 * @param globals - `window.TASKPULSE`
 */
export function readConfig(search: string, origin: string, globals: PageGlobals | undefined): PageConfig {
  const q = new URLSearchParams(search);
  const g = globals ?? {};
  const pick = (name: string, fallback: string | undefined) => {
    const v = q.get(name);
    return v !== null && v !== '' ? v : fallback;
  };
  const url = pick('url', g.url) ?? origin;
  const token = pick('token', g.token);
  const getToken = typeof g.getToken === 'function' ? g.getToken : undefined;
  if (token === undefined && getToken === undefined) {
    throw new ConfigError('No credential: add ?token=<viewer token> to the address, or set window.TASKPULSE = { token } (or getToken) before the page script.');
  }
  const transport = pick('transport', g.transport);
  if (transport !== undefined && transport !== 'auto' && transport !== 'sse' && transport !== 'polling') {
    throw new ConfigError(`transport must be auto, sse or polling, got "${transport}"`);
  }
  const hb = pick('heartbeatMs', g.heartbeatMs === undefined ? undefined : String(g.heartbeatMs));
  const heartbeatMs = hb === undefined ? undefined : Number(hb);
  if (heartbeatMs !== undefined && !(Number.isInteger(heartbeatMs) && heartbeatMs > 0)) {
    throw new ConfigError(`heartbeatMs must be a positive whole number, got "${hb}"`);
  }
  return { url, token, getToken, taskId: pick('task', g.taskId), transport, heartbeatMs };
}

/** `createClient` options for a configuration. */
export function clientOptions(config: PageConfig) {
  return {
    url: config.url,
    ...(config.token !== undefined ? { token: config.token } : {}),
    ...(config.getToken !== undefined ? { getToken: config.getToken } : {}),
    ...(config.transport !== undefined ? { transport: config.transport } : {}),
    ...(config.heartbeatMs !== undefined ? { heartbeatMs: config.heartbeatMs } : {}),
  };
}
