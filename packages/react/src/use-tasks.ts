/** `useTasks(filter)`: a filtered list of tasks, live. */
import type { TaskListView } from '@taskpulse/client';
import { useSyncExternalStore } from 'react';
import { filterKey, type TasksFilter } from './filter-key.ts';
import { useTaskPulseClient } from './provider.tsx';
import { useStoreFor } from './use-binding.ts';
import { WatchBinding } from './watch-binding.ts';

/**
 * The tasks matching `filter`, newest first: tasks the client already holds show at once, the
 * first page (`limit`, default 100) is loaded, then tasks enter and leave the list as events
 * arrive. The filter is compared by value, so an inline object literal is fine.
 *
 * @param filter - `status` (one, several, or `'active'` = queued + running), `type`, `tag`,
 *   `parentId`, `owner` (staff only), `limit`. Every given field must match.
 * @returns `{tasks, loading, error}`.
 * @example
 * ```tsx
 * const { tasks } = useTasks({ status: 'active', type: 'pdf-import' });
 * return <ul>{tasks.map((t) => <li key={t.id}>{t.message}</li>)}</ul>;
 * ```
 */
export function useTasks(filter: TasksFilter = {}): TaskListView {
  const client = useTaskPulseClient();
  const key = filterKey(filter);
  const store = useStoreFor(client, key, () => {
    const frozen = { ...filter };
    return new WatchBinding(() => client.watchTasks(frozen));
  });
  return useSyncExternalStore(store.subscribe, store.getSnapshot, store.getSnapshot);
}
