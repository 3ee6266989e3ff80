/** `useTask(id)`: one task, live. */
import type { TaskView } from '@taskpulse/client';
import { useSyncExternalStore } from 'react';
import { useTaskPulseClient } from './provider.tsx';
import { useStoreFor } from './use-binding.ts';
import { constantStore, WatchBinding } from './watch-binding.ts';

const NO_TASK: TaskView = Object.freeze({ task: undefined, loading: false, error: undefined });
const NO_TASK_STORE = constantStore(NO_TASK);

/**
 * The task `id`, as new as the client knows it: shown at once when the client holds it (e.g. a
 * running task from the page-load snapshot), otherwise loaded, then kept current by the stream
 * (or polling). It never moves backwards. Re-renders at most once per animation frame.
 *
 * `id` may be `null`/`undefined` (nothing to show yet): the result is then
 * `{task: undefined, loading: false, error: undefined}` and nothing is requested.
 *
 * @returns `{task, loading, error}`; `error.code` is `not_found` for a task the viewer may not see.
 * @example
 * ```tsx
 * function Progress({ id }: { id: string }) {
 *   const { task, loading, error } = useTask(id);
 *   if (error) return <p>Could not load the task ({error.code})</p>;
 *   if (loading || !task) return <p>Loading…</p>;
 *   return <progress max={100} value={task.progress.percent ?? undefined} />;
 * }
 * ```
 */
export function useTask(id: string | null | undefined): TaskView {
  const client = useTaskPulseClient();
  const key = id ?? '';
  const store = useStoreFor(client, key, () => (key === '' ? NO_TASK_STORE : new WatchBinding(() => client.watchTask(key))));
  return useSyncExternalStore(store.subscribe, store.getSnapshot, store.getSnapshot);
}
