/**
 * Authentication: a presented credential → the {@link Principal} it stands for, or null. An API
 * key (`tpk_…`, or the bootstrap admin key) is looked up by the key service; anything else is taken
 * for a viewer or staff token (JWT). The router (http/route.ts) finds the credential in the request
 * and turns null into a 401; streams call this again while open (a revoked key ends them).
 */
import type { Principal } from './principal.ts';
import { KEY_PREFIX, type KeyService } from './keys.ts';
import type { TokenService } from './tokens.ts';

/**
 * Resolves a credential to its principal; null when it is not accepted. A recently seen API key
 * resolves at once (no promise); anything else may need the store or a JWKS fetch.
 */
export type Authenticate = (credential: string) => Principal | null | Promise<Principal | null>;

export interface AuthenticatorDeps {
  keys: KeyService;
  tokens: TokenService;
  /** The bootstrap admin key (config `adminKey`), accepted though it has no `tpk_` prefix. */
  adminKey: string | null;
}

export function createAuthenticator({ keys, tokens, adminKey }: AuthenticatorDeps): Authenticate {
  return (credential) => {
    if (credential.startsWith(KEY_PREFIX) || (adminKey !== null && credential === adminKey)) return keys.verify(credential);
    return tokens.verify(credential);
  };
}
