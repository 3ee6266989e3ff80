/**
 * `@taskpulse/client` — live progress of TaskPulse tasks in a browser or in Node.
 * Framework-agnostic; `@taskpulse/react` builds on it.
 * @packageDocumentation
 */
export { createClient } from './client.ts';
export type {
  AuthApi,
  ConnectionApi,
  ConnectionStatus,
  Diagnostics,
  TaskPage,
  TaskPulseClient,
  Unsubscribe,
} from './client.ts';
export type { AuthEvent } from './auth.ts';
// The countdown and the on-screen notice rule are UI helpers with subpaths of their own
// (`@taskpulse/client/countdown`, `@taskpulse/client/notices`), so the client's entry stays in its
// 12.25 KiB budget; `RemainingTime` stays here as a type (no bytes).
export type { RemainingTime } from './countdown.ts';
export type { ConnectionDiagnostics } from './connection.ts';
export type { DeliveryReport } from './delivery-health.ts';
export type {
  BrowserNotificationApi,
  ChannelLike,
  Environment,
  EventSourceConstructor,
  EventSourceLike,
  FetchLike,
  LockManagerLike,
  NetworkSource,
  Timers,
  VisibilitySource,
} from './environment.ts';
export { CLIENT_ERROR_CODES, TaskPulseClientError } from './errors.ts';
export type { ClientErrorCode } from './errors.ts';
export type { CallOptions } from './http.ts';
export type { NotificationsApi } from './notifications.ts';
export { InboxWatch } from './inbox-watch.ts';
export type { ConnectionSource, InboxSource, InboxWatchOptions, NotificationChange, NotificationListView } from './inbox-watch.ts';
export { DEFAULTS } from './options.ts';
export type { ClientOptions } from './options.ts';
export type { PollPolicyConfig } from './poll-policy.ts';
export { CONNECTION_STATES } from './state-machine.ts';
export type { ConnectionState, StateChange, StateReason, TransportMode } from './state-machine.ts';
export { matchesFilter } from './task-filter.ts';
export type { StatusFilter, TaskFilter } from './task-filter.ts';
export type { TaskListView, TaskView, Watch } from './watch.ts';
export type { Notification, Task, TaskEvent } from '@taskpulse/protocol';
