/**
 * `@taskpulse/react` — React bindings of `@taskpulse/client`: a provider, live hooks read with
 * `useSyncExternalStore`, and (in `@taskpulse/react/query`) TanStack Query invalidation.
 *
 * @example
 * ```tsx
 * <TaskPulseProvider options={{ url, getToken }}>
 *   <Progress id={taskId} />
 * </TaskPulseProvider>
 *
 * function Progress({ id }: { id: string }) {
 *   const { task } = useTask(id);
 *   const { state } = useConnectionState();
 *   useNotifications({ onComplete: (n) => toast(n.title) });
 *   return <progress max={100} value={task?.progress.percent ?? undefined} title={state} />;
 * }
 * ```
 * @packageDocumentation
 */
export { TaskPulseProvider, useTaskPulseClient } from './provider.tsx';
export type { TaskPulseProviderProps } from './provider.tsx';
export { useTask } from './use-task.ts';
export { useTasks } from './use-tasks.ts';
export { filterKey } from './filter-key.ts';
export type { TasksFilter } from './filter-key.ts';
export { useConnectionState } from './use-connection-state.ts';
export { useRemainingTime } from './use-remaining-time.ts';
export { useNotifications } from './use-notifications.ts';
export type { NotificationsView, UseNotificationsOptions } from './use-notifications.ts';
export { InboxWatch } from './inbox-watch.ts';
export type { InboxOptions, InboxView } from './inbox-watch.ts';
export { constantStore, DEFAULT_IDLE_MS, WatchBinding } from './watch-binding.ts';
export type { BindingTimers, ClosableStore, ExternalStore, WatchBindingOptions } from './watch-binding.ts';
export type { ConnectionState, ConnectionStatus, Notification, RemainingTime, Task, TaskEvent, TaskListView, TaskView } from '@taskpulse/client';
