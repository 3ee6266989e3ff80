/**
 * The inbox store behind `useNotifications`: the client's `notifications.watch()` store
 * (`InboxWatch` of `@taskpulse/client`, which owns loading, races and recovery), seen with the
 * hook's field names. Free of React.
 */
import {
  type ConnectionSource,
  type InboxSource,
  InboxWatch as ClientInboxWatch,
  type NotificationListView,
  type Notification,
  type TaskPulseClientError,
  type Watch,
} from '@taskpulse/client';
import type { ClosableStore } from './watch-binding.ts';

/** The value of the inbox. */
export interface InboxView {
  /** Newest first, at most `limit`. */
  notifications: Notification[];
  /** How many of `notifications` are unread. */
  unreadCount: number;
  /** True until the first answer. */
  loading: boolean;
  /** Why the inbox could not be loaded; it is loaded again when the connection recovers. */
  error: TaskPulseClientError | undefined;
}

/** Options of {@link InboxWatch}. */
export interface InboxOptions {
  /** How many notifications to hold, 1–500. @defaultValue 20 */
  limit?: number;
  /** Hold unread notifications only (a read one leaves the list). @defaultValue false */
  unreadOnly?: boolean;
}

/** A client inbox watch as a store of {@link InboxView}s; each view keeps its identity until the watch's value changes. */
export function inboxStore(watch: Watch<NotificationListView>): ClosableStore<InboxView> {
  let source: NotificationListView | undefined;
  let view: InboxView | undefined;
  const getSnapshot = (): InboxView => {
    const next = watch.getSnapshot();
    if (next !== source || view === undefined) {
      source = next;
      view = { notifications: next.notifications, unreadCount: next.unread, loading: next.loading, error: next.error };
    }
    return view;
  };
  return {
    getSnapshot,
    subscribe: (listener) => watch.subscribe(() => listener(getSnapshot())),
    close: () => watch.close(),
  };
}

/** The inbox over any notification source and connection (`client.notifications`, `client.connection`). */
export class InboxWatch implements ClosableStore<InboxView> {
  readonly #store: ClosableStore<InboxView>;

  constructor(api: InboxSource, connection: ConnectionSource, options: InboxOptions = {}) {
    const { limit = 20, unreadOnly = false } = options;
    this.#store = inboxStore(new ClientInboxWatch(api, connection, { limit, unread: unreadOnly }));
  }

  getSnapshot = (): InboxView => this.#store.getSnapshot();

  subscribe = (listener: (value: InboxView) => void): (() => void) => this.#store.subscribe(listener);

  close(): void {
    this.#store.close();
  }
}
