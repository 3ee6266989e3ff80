/**
 * Where the built dashboard is, and `taskpulse dashboard`: a staff token for it, as a URL.
 * The dashboard takes its credential from the URL fragment (`#token=`), which never reaches
 * the server's logs; it keeps it in sessionStorage and clears it from the address bar.
 */
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { dashboardDir, REPO_ROOT } from './assets.ts';

/** How to build the dashboard from a checkout, shown when it is missing. */
export const BUILD_HINT = 'From the repository root: npm run build (or npm run build -w @taskpulse/dashboard), then restart taskpulse.';

/** The dashboard's folder: the one given, else the one shipped or built in the checkout; `built` says whether it has an index.html. */
export function findDashboard(explicit?: string | null): { dir: string; built: boolean } {
  if (explicit) {
    const dir = resolve(explicit);
    return { dir, built: existsSync(join(dir, 'index.html')) };
  }
  const found = dashboardDir();
  if (found) return { dir: found, built: true };
  return { dir: REPO_ROOT ? join(REPO_ROOT, 'packages/dashboard/dist') : resolve('dashboard'), built: false };
}

/** The dashboard's address with a credential in its fragment. */
export function dashboardUrl(base: string, token: string): string {
  return `${base.replace(/\/+$/, '')}/#token=${encodeURIComponent(token)}`;
}

/** Mints a staff token over HTTP with an admin key. */
export async function mintStaffToken(url: string, adminKey: string, ttlSeconds: number): Promise<{ token: string; expiresAt: string }> {
  const res = await fetch(`${url.replace(/\/+$/, '')}/v1/tokens`, {
    method: 'POST',
    headers: { authorization: `Bearer ${adminKey}`, 'content-type': 'application/json' },
    body: JSON.stringify({ role: 'staff', ttlSeconds }),
  });
  const body = (await res.json().catch(() => null)) as { token?: string; expiresAt?: string; error?: { message?: string } } | null;
  if (res.status !== 201 || !body?.token) throw new Error(`the server refused a staff token (${res.status}): ${body?.error?.message ?? 'no answer'}`);
  return { token: body.token, expiresAt: body.expiresAt! };
}
