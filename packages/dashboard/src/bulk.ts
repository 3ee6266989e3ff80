/** Bulk cancel/retry: on a selection, or on everything a filter matches (read page by page). */
import type { Api, TaskQuery } from './api.ts';

export type BulkAction = 'cancel' | 'retry';

/** The statuses an action applies to. */
export const APPLIES_TO: Record<BulkAction, readonly string[]> = Object.freeze({ cancel: ['queued', 'running'], retry: ['failed', 'canceled'] });

/** The status filter for "every task this filter matches that the action applies to" (null: none can match). */
export function bulkStatus(action: BulkAction, status: string | undefined): string | null {
  const allowed = APPLIES_TO[action];
  if (!status) return allowed.join(',');
  const wanted = status.split(',').flatMap((s) => (s === 'active' ? ['queued', 'running'] : [s]));
  const both = allowed.filter((s) => wanted.includes(s));
  return both.length ? both.join(',') : null;
}

/** At most this many tasks in one bulk action (a guard against a filter that matches everything by mistake). */
export const BULK_LIMIT = 10_000;

export async function matchingIds(api: Api, action: BulkAction, query: TaskQuery): Promise<string[]> {
  const status = bulkStatus(action, query.status);
  if (status === null) return [];
  const ids: string[] = [];
  let cursor: string | undefined;
  do {
    const page = await api.tasks({ ...query, status, cursor, limit: 500 });
    ids.push(...page.tasks.map((t) => t.id));
    cursor = page.nextCursor ?? undefined;
  } while (cursor && ids.length < BULK_LIMIT);
  return ids.slice(0, BULK_LIMIT);
}

/** Runs the action on `ids`, four at a time; a task that moved on meanwhile (409) is counted as skipped. */
export async function runBulk(api: Api, action: BulkAction, ids: readonly string[], onProgress: (done: number) => void): Promise<{ ok: number; skipped: number; failed: number }> {
  let next = 0;
  const out = { ok: 0, skipped: 0, failed: 0 };
  const worker = async () => {
    while (next < ids.length) {
      const id = ids[next++]!;
      try {
        await (action === 'cancel' ? api.cancel(id) : api.retry(id));
        out.ok++;
      } catch (error) {
        if ((error as { status?: number }).status === 409) out.skipped++;
        else out.failed++;
      }
      onProgress(out.ok + out.skipped + out.failed);
    }
  };
  await Promise.all([worker(), worker(), worker(), worker()]);
  return out;
}
