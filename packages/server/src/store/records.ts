/** Row ↔ record helpers every store implementation shares. */
import { DEFAULT_WORKER_SCOPES, SCOPES, TASK_STATUSES, type ApiKeyInfo, type Scope, type TaskStatus } from '@taskpulse/protocol';
import type { NewEvent, StoredEvent, TaskRecord } from './store.ts';

/** An api_keys row as selected (`scopes` is a JSON array, or NULL for a key made before scopes). */
export type KeyRow<K extends ApiKeyInfo> = Omit<K, 'scopes'> & { scopes: string | null };

/** The key with its scopes: an admin key has every scope; a worker key without any stored has the default. */
export function keyFromRow<K extends ApiKeyInfo>(row: KeyRow<K>): K {
  const stored = row.scopes === null ? null : (JSON.parse(row.scopes) as Scope[]);
  const scopes = row.role === 'admin' ? [...SCOPES] : [...(stored ?? DEFAULT_WORKER_SCOPES)];
  return { ...row, scopes } as unknown as K;
}

/** A stored task document, or null when the row was not found. */
export function parseDoc(doc: unknown): TaskRecord | null {
  return typeof doc === 'string' ? (JSON.parse(doc) as TaskRecord) : null;
}

/**
 * The appended event: its wire JSON, serialized once, plus the fields readers filter on.
 * `json` is given when the caller already serialized the event (the SQLite store's compact log).
 */
export function toStored(seq: number, e: NewEvent, json = JSON.stringify({ seq, type: e.type, at: e.at, taskId: e.taskId, ...e.body(seq) })): StoredEvent {
  return {
    seq, type: e.type, at: e.at, taskId: e.taskId, owner: e.owner, taskType: e.taskType, parentId: e.parentId,
    tags: e.tags, milestone: e.milestone, json,
  };
}

/** `{queued: n, running: n, …}` with every status present, from grouped count rows. */
export function statusCounts(rows: readonly { status: string; c: number | string }[]): Record<TaskStatus, number> {
  const out = Object.fromEntries(TASK_STATUSES.map((s) => [s, 0])) as Record<TaskStatus, number>;
  for (const r of rows) if (r.status in out) out[r.status as TaskStatus] = Number(r.c);
  return out;
}
