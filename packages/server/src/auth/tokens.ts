/**
 * Viewer tokens: JWTs whose `sub` is the owner they may read. HS256 with the server secret,
 * or verified against a configured JWKS (tokens minted by the app's own identity provider).
 * Only the listed algorithms are accepted, so `alg: none` and algorithm swaps fail.
 */
import { SignJWT, createRemoteJWKSet, jwtVerify, errors as joseErrors, type JWTPayload } from 'jose';
import { TaskPulseError } from '@taskpulse/protocol';
import type { Principal } from './principal.ts';

export interface TokenConfig {
  secret: string;
  jwksUrl: string | null;
  issuer: string;
  defaultTtlSeconds: number;
}

export class TokenService {
  readonly #key: Uint8Array;
  readonly #config: TokenConfig;
  readonly #jwks: ReturnType<typeof createRemoteJWKSet> | null;

  constructor(config: TokenConfig) {
    this.#config = config;
    this.#key = new TextEncoder().encode(config.secret);
    this.#jwks = config.jwksUrl ? createRemoteJWKSet(new URL(config.jwksUrl)) : null;
  }

  async mint(owner: string, ttlSeconds?: number, taskIds?: string[]): Promise<{ token: string; expiresAt: string }> {
    const exp = Math.floor(Date.now() / 1000) + (ttlSeconds ?? this.#config.defaultTtlSeconds);
    const token = await new SignJWT({ ...(taskIds ? { tids: taskIds } : {}) })
      .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
      .setSubject(owner)
      .setIssuer(this.#config.issuer)
      .setIssuedAt()
      .setExpirationTime(exp)
      .sign(this.#key);
    return { token, expiresAt: new Date(exp * 1000).toISOString() };
  }

  async verify(token: string): Promise<Principal> {
    let payload: JWTPayload;
    try {
      payload = (await jwtVerify(token, this.#key, { algorithms: ['HS256'], issuer: this.#config.issuer, requiredClaims: ['sub', 'exp'] })).payload;
    } catch (error) {
      if (error instanceof joseErrors.JWTExpired) {
        throw new TaskPulseError('unauthorized', 'the viewer token has expired', { reason: 'token_expired' });
      }
      if (!this.#jwks) throw new TaskPulseError('unauthorized', 'the credential is not valid');
      try {
        payload = (await jwtVerify(token, this.#jwks, { algorithms: ['RS256', 'ES256', 'EdDSA', 'PS256'], requiredClaims: ['sub', 'exp'] })).payload;
      } catch (e2) {
        if (e2 instanceof joseErrors.JWTExpired) {
          throw new TaskPulseError('unauthorized', 'the viewer token has expired', { reason: 'token_expired' });
        }
        throw new TaskPulseError('unauthorized', 'the credential is not valid');
      }
    }
    const sub = payload.sub;
    if (typeof sub !== 'string' || sub.length === 0 || sub.length > 128) {
      throw new TaskPulseError('unauthorized', 'the viewer token has no valid subject');
    }
    const tids = payload.tids;
    const taskIds = Array.isArray(tids) && tids.every((t) => typeof t === 'string') ? new Set(tids as string[]) : null;
    return { role: 'viewer', owner: sub, taskIds };
  }
}
