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
    const b64 = parts[1]!.replace(/-/g, '+').replace(/_/g, '/');
    const json = JSON.parse(atob(b64 + '='.repeat((4 - (b64.length % 4)) % 4))) as { exp?: unknown };
    return typeof json.exp === 'number' ? json.exp * 1000 : undefined;
  } catch {
    return undefined;
  }
}

export class TokenSource {
  #config: TokenSourceConfig;
  #env: Environment;
  #emit: (event: AuthEvent) => void;
  #token: string | undefined;
  #inflight: Promise<string> | null = null;
  /** The last token whose expiry was announced. */
  #expiredToken: string | undefined;
  #timer: unknown;
  #closed = false;
  #changed = listeners();

  constructor(config: TokenSourceConfig, env: Environment, emit: (event: AuthEvent) => void) {
    this.#config = config;
    this.#env = env;
    this.#emit = emit;
    if (config.token !== undefined) this.#adopt(config.token);
  }

  /** Calls `listener` whenever a refresh replaced the token on a timer (the stream must reopen). */
  onProactiveRefresh(listener: () => void): () => void {
    return this.#changed.add(listener);
  }

  /** The token to send now, fetching the first one when only `getToken` was given. */
  async current(): Promise<string> {
    if (this.#token !== undefined) return this.#token;
    return this.#refresh();
  }

  /**
   * Called after a 401 answered to `failed`. Returns a token worth retrying with, or throws
   * `unauthorized` (after emitting `auth_failed`) when there is none.
   */
  async replace(failed: string, serverCode: string | undefined): Promise<string> {
    if (this.#token !== undefined && this.#token !== failed) return this.#token; // someone refreshed already
    // Several requests refused with the same token (a stream the server ended at `exp` and a poll)
    // are one expiry: the app hears it once.
    if (serverCode === 'token_expired' && this.#expiredToken !== failed) {
      this.#expiredToken = failed;
      this.#emit({ type: 'token_expired', at: this.#env.now() });
    }
    const error = clientError('unauthorized', { status: 401 });
    if (this.#config.getToken === undefined) return this.#fail(error);
    let next: string;
    try {
      next = await this.#refresh();
    } catch (cause) {
      return this.#fail(cause instanceof TaskPulseClientError ? cause : clientError('unauthorized', { status: 401, cause }));
    }
    if (next === failed) return this.#fail(error);
    return next;
  }

  close(): void {
    this.#closed = true;
    this.#env.timers.clearTimeout(this.#timer);
  }

  #fail(error: TaskPulseClientError): never {
    this.#emit({ type: 'auth_failed', at: this.#env.now(), error });
    throw error;
  }

  #refresh(): Promise<string> {
    const getToken = this.#config.getToken;
    if (getToken === undefined) return Promise.reject(clientError('unauthorized'));
    this.#inflight ??= (async () => {
      try {
        const token = await getToken();
        if (typeof token !== 'string' || token === '') throw clientError('unauthorized', {}, '`getToken` returned no token');
        const first = this.#token === undefined;
        this.#adopt(token);
        if (!first) this.#emit({ type: 'token_refreshed', at: this.#env.now(), expiresAt: jwtExpiresAt(token) });
        return token;
      } finally {
        this.#inflight = null;
      }
    })();
    return this.#inflight;
  }

  #adopt(token: string): void {
    this.#token = token;
    this.#env.timers.clearTimeout(this.#timer);
    const exp = jwtExpiresAt(token);
    if (exp === undefined || this.#closed) return;
    const now = this.#env.now();
    // Refresh ahead of `exp`; with nothing to refresh with, say so at the moment of expiry, explicitly.
    const lead = this.#config.getToken ? Math.min(this.#config.tokenRefreshLeadMs, Math.max(0, (exp - now) / 10)) : 0;
    this.#timer = this.#env.timers.setTimeout(() => void this.#onTimer(token), Math.max(0, exp - lead - now));
  }

  async #onTimer(token: string): Promise<void> {
    if (this.#closed || this.#token !== token) return;
    if (this.#config.getToken === undefined) return this.#emit({ type: 'token_expired', at: this.#env.now() });
    try {
      await this.#refresh();
    } catch {
      return; // the next 401 retries and reports
    }
    if (!this.#closed) this.#changed.emit();
  }
}
