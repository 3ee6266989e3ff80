import type { Scope } from '@taskpulse/protocol';

/** Who is calling, once their credential checked out. */
export type Principal =
  | { role: 'admin'; keyId: string | null }
  | { role: 'worker'; keyId: string; /** What this key may do (see `SCOPES`). */ scopes: ReadonlySet<Scope> }
  | { role: 'viewer'; owner: string; taskIds: ReadonlySet<string> | null; /** The token's `exp`, ms since epoch. */ expiresAtMs?: number }
  /** A staff token (the dashboard): reads everything, cancels and retries; nothing else. */
  | { role: 'staff'; /** The token's `exp`, ms since epoch: its streams end then. */ expiresAtMs?: number };

export type Role = Principal['role'];

/** Every credential that may read tasks and events (each within its own scope). */
export const READERS: readonly Role[] = Object.freeze(['admin', 'worker', 'viewer', 'staff']);

/** The event/task visibility a principal implies: viewers only ever see their own. */
export function ownerScope(p: Principal): { owner?: string; taskIds?: string[] } {
  if (p.role !== 'viewer') return {};
  return { owner: p.owner, ...(p.taskIds ? { taskIds: [...p.taskIds] } : {}) };
}

export function canSee(p: Principal, task: { id: string; owner: string }): boolean {
  if (p.role !== 'viewer') return true;
  return task.owner === p.owner && (p.taskIds === null || p.taskIds.has(task.id));
}
