/** Matching a committed event against a reader's filter and visibility, in memory (the store does the same in SQL). */
import type { EventFilter, StoredEvent } from '../store/store.ts';

export function matches(e: StoredEvent, f: EventFilter): boolean {
  if (f.owner !== undefined && e.owner !== f.owner) return false;
  if (f.taskIds !== undefined && (e.taskId === null || !f.taskIds.includes(e.taskId))) return false;
  if (f.taskId !== undefined && e.taskId !== f.taskId) return false;
  if (f.type !== undefined && e.taskType !== f.type) return false;
  if (f.parentId !== undefined && e.parentId !== f.parentId) return false;
  if (f.tag !== undefined && !e.tags.includes(f.tag)) return false;
  if (f.events !== undefined && !f.events.includes(e.type)) return false;
  return true;
}

/** The task filter a snapshot uses for the same reader. */
export function snapshotFilter(f: EventFilter) {
  return {
    ...(f.owner !== undefined ? { owner: f.owner } : {}),
    ...(f.taskIds !== undefined || f.taskId !== undefined
      ? { ids: f.taskId !== undefined ? (f.taskIds && !f.taskIds.includes(f.taskId) ? [] : [f.taskId]) : f.taskIds! }
      : {}),
    ...(f.type !== undefined ? { type: f.type } : {}),
    ...(f.parentId !== undefined ? { parentId: f.parentId } : {}),
    ...(f.tag !== undefined ? { tag: f.tag } : {}),
  };
}
