/**
 * The dashboard's credential: taken from the URL fragment (`#token=…`, which never reaches a
 * server log), kept in sessionStorage (this tab only, gone when it closes) and removed from the
 * address bar so it is not bookmarked, shared or left in the history.
 */
const KEY = 'taskpulse.token';

export type Session =
  | { kind: 'staff'; token: string; expiresAt: number | null }
  | { kind: 'viewer'; token: string; owner: string; expiresAt: number | null }
  | { kind: 'none'; problem: 'missing' | 'api_key' | 'malformed' | 'expired' | 'session_expired' };

/** Reads the credential (moving it from the fragment to sessionStorage first). */
export function loadSession(loc: Location = location, storage: Storage = sessionStorage): Session {
  const hash = new URLSearchParams(loc.hash.slice(1));
  const fromHash = hash.get('token');
  if (fromHash !== null) {
    hash.delete('token');
    const rest = hash.toString();
    history.replaceState(history.state, '', loc.pathname + loc.search + (rest ? `#${rest}` : ''));
    if (fromHash.startsWith('tpk_')) {
      // An API key must never sit in a browser: refuse it rather than keep it.
      storage.removeItem(KEY);
      return { kind: 'none', problem: 'api_key' };
    }
    storage.setItem(KEY, fromHash);
  }
  const token = storage.getItem(KEY);
  if (!token) return { kind: 'none', problem: 'missing' };
  return describe(token);
}

export function forgetSession(storage: Storage = sessionStorage): void {
  storage.removeItem(KEY);
}

/** What a token says about itself (unverified: the server decides; this only picks the views). */
export function describe(token: string, nowMs = Date.now()): Session {
  let claims: { sub?: unknown; exp?: unknown; tp_role?: unknown };
  try {
    const part = token.split('.')[1] ?? '';
    claims = JSON.parse(atob(part.replace(/-/g, '+').replace(/_/g, '/').padEnd(Math.ceil(part.length / 4) * 4, '=')));
  } catch {
    return { kind: 'none', problem: 'malformed' };
  }
  const expiresAt = typeof claims.exp === 'number' ? claims.exp * 1000 : null;
  if (expiresAt !== null && expiresAt <= nowMs) return { kind: 'none', problem: 'expired' };
  if (claims.tp_role === 'staff') return { kind: 'staff', token, expiresAt };
  if (typeof claims.sub !== 'string') return { kind: 'none', problem: 'malformed' };
  return { kind: 'viewer', token, owner: claims.sub, expiresAt };
}
