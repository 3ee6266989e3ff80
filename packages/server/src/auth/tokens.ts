/**
 * Viewer tokens: JWTs whose `sub` is the owner they may read. HS256 with the server secret,
 * or verified against a configured JWKS (tokens minted by the app's own identity provider).
 * Only the listed algorithms are accepted, so `alg: none` and algorithm swaps fail.
 */
import { SignJWT, createRemoteJWKSet, decodeProtectedHeader, jwtVerify, errors as joseErrors, type JWTPayload } from 'jose';
import { Id, TaskPulseError } from '@taskpulse/protocol';
import { z } from 'zod';
import type { Principal } from './principal.ts';

/**
 * The claims a viewer token must carry, and the shape of the optional ones. Anything malformed is
 * refused whole: a `tids` the server cannot read must never widen access to all the owner's tasks.
 * Other claims (an identity provider's own) pass untouched.
 */
const ViewerClaims = z.object({
  sub: Id,
  tids: z.array(Id).max(1000).optional(),
});
/** The claim that marks a token this server minted for staff (`POST /v1/tokens {role: "staff"}`). */
const STAFF_CLAIM = 'tp_role';

export interface TokenConfig {
  secret: string;
  jwksUrl: string | null;
  issuer: string;
  defaultTtlSeconds: number;
}

export interface TokenDeps {
  /**
   * The clock, in milliseconds since the epoch: `iat` and `exp` of minted tokens, and the time
   * `exp` is checked against (jose's `currentDate`), so a test expires a token by advancing it.
   * @defaultValue Date.now
   */
  now?: () => number;
}

export class TokenService {
  /**
   * The secret as a CryptoKey, imported once: given raw bytes, jose imports a key on every sign and
   * verify (~15 % of the server's CPU while 10,000 viewer streams opened, bench/fanout.mjs).
   */
  readonly #key: Promise<CryptoKey>;
  readonly #config: TokenConfig;
  readonly #jwks: ReturnType<typeof createRemoteJWKSet> | null;
  readonly #now: () => number;

  constructor(config: TokenConfig, deps: TokenDeps = {}) {
    this.#config = config;
    this.#key = crypto.subtle.importKey('raw', new TextEncoder().encode(config.secret), { name: 'HMAC', hash: 'SHA-256' }, false, ['sign', 'verify']);
    this.#key.catch(() => {}); // an unusable secret fails each sign and verify that awaits it, not the process
    this.#jwks = config.jwksUrl ? createRemoteJWKSet(new URL(config.jwksUrl)) : null;
    this.#now = deps.now ?? Date.now;
  }

  async mint(owner: string, ttlSeconds?: number, taskIds?: string[]): Promise<{ token: string; expiresAt: string }> {
    return this.#sign({ ...(taskIds ? { tids: taskIds } : {}) }, owner, ttlSeconds);
  }

  /**
   * A staff token: the dashboard's credential. Only this server's secret can make one: a token
   * verified against a JWKS is always a viewer token, whatever claims it carries.
   */
  async mintStaff(ttlSeconds?: number): Promise<{ token: string; expiresAt: string }> {
    return this.#sign({ [STAFF_CLAIM]: 'staff' }, 'staff', ttlSeconds);
  }

  async #sign(claims: JWTPayload, subject: string, ttlSeconds: number | undefined): Promise<{ token: string; expiresAt: string }> {
    const iat = Math.floor(this.#now() / 1000);
    const exp = iat + (ttlSeconds ?? this.#config.defaultTtlSeconds);
    const token = await new SignJWT(claims)
      .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
      .setSubject(subject)
      .setIssuer(this.#config.issuer)
      .setIssuedAt(iat)
      .setExpirationTime(exp)
      .sign(await this.#key);
    return { token, expiresAt: new Date(exp * 1000).toISOString() };
  }

  async verify(token: string): Promise<Principal> {
    // jose checks `exp` (and `nbf`) against its own clock unless told the time.
    const currentDate = new Date(this.#now());
    let payload: JWTPayload;
    try {
      payload = (await jwtVerify(token, await this.#key, { algorithms: ['HS256'], issuer: this.#config.issuer, requiredClaims: ['sub', 'exp'], currentDate })).payload;
      if (payload[STAFF_CLAIM] === 'staff') return { role: 'staff', ...(typeof payload.exp === 'number' ? { expiresAtMs: payload.exp * 1000 } : {}) };
    } catch (error) {
      if (error instanceof joseErrors.JWTExpired) {
        throw new TaskPulseError('unauthorized', 'the token has expired', { reason: 'token_expired' });
      }
      if (!this.#jwks) throw new TaskPulseError('unauthorized', 'the credential is not valid');
      try {
        payload = (await jwtVerify(token, this.#jwks, { algorithms: ['RS256', 'ES256', 'EdDSA', 'PS256'], requiredClaims: ['sub', 'exp'], currentDate })).payload;
      } catch (e2) {
        if (e2 instanceof joseErrors.JWTExpired) {
          throw new TaskPulseError('unauthorized', 'the token has expired', { reason: 'token_expired' });
        }
        throw new TaskPulseError('unauthorized', 'the credential is not valid');
      }
    }
    const claims = ViewerClaims.safeParse(payload);
    if (!claims.success) {
      throw new TaskPulseError('unauthorized', `the viewer token has a malformed claim: ${claims.error.issues.map((i) => i.path.join('.') || '(root)').join(', ')}`);
    }
    const sub = claims.data.sub;
    const taskIds = claims.data.tids ? new Set(claims.data.tids) : null;
    return { role: 'viewer', owner: sub, taskIds, ...(typeof payload.exp === 'number' ? { expiresAtMs: payload.exp * 1000 } : {}) };
  }
}

/**
 * Whether a token that verified was signed with this server's secret (HS256): an identity
 * provider's tokens are only accepted with asymmetric algorithms (see `verify`).
 */
export function signedWithSecret(token: string): boolean {
  try {
    return decodeProtectedHeader(token).alg === 'HS256';
  } catch {
    return false;
  }
}
