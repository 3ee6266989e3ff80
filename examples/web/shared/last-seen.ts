/**
 * The last state of each task this tab showed, in `sessionStorage`, so the first paint after F5
 * shows the bar where it was instead of a blank one. It is only a placeholder: the client's
 * snapshot (the server's truth) replaces it a moment later, and since it is older than anything
 * the server answers, the bar never moves backwards.
 */
import type { Task } from '@taskpulse/client';

const PREFIX = 'taskpulse:last-seen:';

type StorageLike = Pick<Storage, 'getItem' | 'setItem'>;

function storage(): StorageLike | undefined {
  try {
    return globalThis.sessionStorage;
  } catch {
    return undefined; // blocked (privacy settings, sandboxed frame)
  }
}

/** The task as this tab last showed it, or `undefined`. */
export function loadLastSeen(id: string, store: StorageLike | undefined = storage()): Task | undefined {
  try {
    const text = store?.getItem(PREFIX + id);
    if (!text) return undefined;
    const task = JSON.parse(text) as Task;
    return task && task.id === id && typeof task.seq === 'number' ? task : undefined;
  } catch {
    return undefined;
  }
}

/** Remembers what the tab shows now. Without `input`/`result` (they may be large). */
export function saveLastSeen(task: Task, store: StorageLike | undefined = storage()): void {
  try {
    store?.setItem(PREFIX + task.id, JSON.stringify({ ...task, input: null, result: null }));
  } catch {
    // full or blocked: the page works without it
  }
}

/** The newer of the two (by `seq`): the live one wins ties. */
export function newest(live: Task | undefined, remembered: Task | undefined): Task | undefined {
  if (live === undefined) return remembered;
  if (remembered === undefined) return live;
  return remembered.seq > live.seq ? remembered : live;
}
