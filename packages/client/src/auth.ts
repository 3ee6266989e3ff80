/**
 * The credential in use, and its renewal. A 401 or an approaching JWT `exp` calls `getToken()`
 * once (concurrent callers share the call); the app hears about every expiry and refresh as an
 * explicit {@link AuthEvent}, never as a silent downgrade.
 */
import type { Environment } from './environment.ts';
import { clientError, TaskPulseClientError } from './errors.ts';
import { listeners } from './listeners.ts';

/** What the app hears about its credentials. */
export type AuthEvent =
  /** The token expired (by its `exp`, or the server said `token_expired`). A refresh follows when `getToken` exists. */
  | { type: 'token_expired'; at: number }
  /** `getToken()` returned a new token; the connection resumed with it from its cursor. */
  | { type: 'token_refreshed'; at: number; expiresAt: number | undefined }
  /** The credentials were refused and no usable token could be obtained: the app must sign in again. */
  | { type: 'auth_failed'; at: number; error: TaskPulseClientError };

export interface TokenSourceConfig {
  token: string | undefined;
  getToken: (() => string | Promise<string>) | undefined;
  tokenRefreshLeadMs: number;
}

/** Reads `exp` (seconds) of a JWT without verifying it, as ms since epoch; `undefined` when absent. */
export function jwtExpiresAt(token: string): number | undefined {
  const parts = token.split('.');
  if (parts.length !== 3) return undefined;
  try {
    // base64url without padding: `atob` (forgiving-base64) needs no `=`.
    const { exp } = JSON.parse(atob(parts[1]!.replace(/-/g, '+').replace(/_/g, '/'))) as { exp?: unknown };
    return typeof exp === 'number' ? exp * 1000 : undefined;
  } catch {
    return undefined;
  }
}

/** The credential, as `Http` and the client use it. */
export interface TokenSource {
  /** Calls `listener` whenever a refresh replaced the token on a timer (the stream must reopen). */
  onProactiveRefresh(listener: () => void): () => void;
  /** The token to send now, fetching the first one when only `getToken` was given. */
  current(): Promise<string>;
  /**
   * Called after a 401 answered to `failed`. Returns a token worth retrying with, or throws
   * `unauthorized` (after emitting `auth_failed`) when there is none.
   */
  replace(failed: string, serverCode: string | undefined): Promise<string>;
  close(): void;
}

export function createTokenSource(config: TokenSourceConfig, env: Environment, emit: (event: AuthEvent) => void): TokenSource {
  const { getToken } = config;
  const { timers } = env;
  const changed = listeners();
  let token: string | undefined;
  let inflight: Promise<string> | null = null;
  /** The last token whose expiry was announced. */
  let expiredToken: string | undefined;
  let timer: unknown;
  let closed = false;

  const fail = (error: TaskPulseClientError): never => {
    emit({ type: 'auth_failed', at: env.now(), error });
    throw error;
  };

  function refresh(): Promise<string> {
    if (getToken === undefined) return Promise.reject(clientError('unauthorized'));
    inflight ??= (async () => {
      try {
        const next = await getToken();
        if (typeof next !== 'string' || next === '') throw clientError('unauthorized', {}, '`getToken` returned no token');
        const first = token === undefined;
        adopt(next);
        if (!first) emit({ type: 'token_refreshed', at: env.now(), expiresAt: jwtExpiresAt(next) });
        return next;
      } finally {
        inflight = null;
      }
    })();
    return inflight;
  }

  function adopt(next: string): void {
    token = next;
    timers.clearTimeout(timer);
    const exp = jwtExpiresAt(next);
    if (exp === undefined || closed) return;
    const now = env.now();
    // Refresh ahead of `exp`; with nothing to refresh with, say so at the moment of expiry, explicitly.
    const lead = getToken ? Math.min(config.tokenRefreshLeadMs, Math.max(0, (exp - now) / 10)) : 0;
    timer = timers.setTimeout(() => void onTimer(next), Math.max(0, exp - lead - now));
  }

  async function onTimer(timed: string): Promise<void> {
    if (closed || token !== timed) return;
    if (getToken === undefined) return emit({ type: 'token_expired', at: env.now() });
    try {
      await refresh();
    } catch {
      return; // the next 401 retries and reports
    }
    if (!closed) changed.emit();
  }

  if (config.token !== undefined) adopt(config.token);

  return {
    onProactiveRefresh: (listener) => changed.add(listener),
    current: async () => token ?? refresh(),
    async replace(failed, serverCode) {
      if (token !== undefined && token !== failed) return token; // someone refreshed already
      // Several requests refused with the same token (a stream the server ended at `exp` and a poll)
      // are one expiry: the app hears it once.
      if (serverCode === 'token_expired' && expiredToken !== failed) {
        expiredToken = failed;
        emit({ type: 'token_expired', at: env.now() });
      }
      const error = clientError('unauthorized', { status: 401 });
      if (getToken === undefined) return fail(error);
      let next: string;
      try {
        next = await refresh();
      } catch (cause) {
        return fail(cause instanceof TaskPulseClientError ? cause : clientError('unauthorized', { status: 401, cause }));
      }
      return next === failed ? fail(error) : next;
    },
    close() {
      closed = true;
      timers.clearTimeout(timer);
    },
  };
}
