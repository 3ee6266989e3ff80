/** `useNotifications()`: the user's inbox, and completion callbacks that fire exactly once. */
import type { Notification } from '@taskpulse/client';
import { useEffect, useMemo, useRef, useSyncExternalStore } from 'react';
import { type InboxView, inboxStore } from './inbox-watch.ts';
import { useTaskPulseClient } from './provider.tsx';
import { useStoreFor } from './use-binding.ts';
import { constantStore, WatchBinding } from './watch-binding.ts';

/** Options of {@link useNotifications}. */
export interface UseNotificationsOptions {
  /**
   * Called once per completed task — in one tab of the browser, and not again after a reload —
   * then the notification is marked read on the server. Completions that happened while no page
   * was open are delivered too. Giving this callback is what claims completions: leave it out in
   * components that only display the inbox.
   */
  onComplete?: (notification: Notification) => void;
  /** As `onComplete`, for failed tasks. */
  onFail?: (notification: Notification) => void;
  /** As `onComplete`, for every kind (completed, failed, canceled). */
  onNotification?: (notification: Notification) => void;
  /**
   * Load and follow the inbox (`GET /v1/notifications`, then events). `false` when the component
   * only wants the callbacks. @defaultValue true
   */
  inbox?: boolean;
  /** Notifications held, 1–500. @defaultValue 20 */
  limit?: number;
  /** Hold unread notifications only. @defaultValue false */
  unreadOnly?: boolean;
}

/** The value of {@link useNotifications}. */
export interface NotificationsView extends InboxView {
  /** Marks notifications read on the server; every tab hears it. */
  markRead(selection: { ids?: string[]; upToSeq?: number }): Promise<void>;
  /** Marks every notification up to the newest one held as read. */
  markAllRead(): Promise<void>;
}

const NO_INBOX: InboxView = Object.freeze({ notifications: [], unreadCount: 0, loading: false, error: undefined });
const NO_INBOX_STORE = constantStore(NO_INBOX);

/**
 * The user's inbox and exactly-once completion callbacks (driven by the server's inbox, so they
 * survive reloads and fire in one tab only).
 *
 * Callbacks may change between renders without re-registering; only whether each one is
 * given matters.
 *
 * @example
 * ```tsx
 * const { unreadCount } = useNotifications({ onComplete: (n) => toast(n.title) });
 * ```
 */
export function useNotifications(options: UseNotificationsOptions = {}): NotificationsView {
  const client = useTaskPulseClient();
  const { inbox = true, limit = 20, unreadOnly = false } = options;
  const latest = useRef(options);
  useEffect(() => {
    latest.current = options;
  });

  const wants = { completed: options.onComplete !== undefined, failed: options.onFail !== undefined, any: options.onNotification !== undefined };
  useEffect(() => {
    const api = client.notifications;
    const offs: Array<() => void> = [];
    if (wants.completed) offs.push(api.onComplete((n) => latest.current.onComplete?.(n)));
    if (wants.failed) offs.push(api.onFail((n) => latest.current.onFail?.(n)));
    if (wants.any) offs.push(api.onNotification((n) => latest.current.onNotification?.(n)));
    return () => {
      for (const off of offs) off();
    };
  }, [client, wants.completed, wants.failed, wants.any]);

  const key = inbox ? `${limit}:${unreadOnly}` : '';
  const store = useStoreFor(client, key, () =>
    inbox ? new WatchBinding(() => inboxStore(client.notifications.watch({ limit, unread: unreadOnly }))) : NO_INBOX_STORE,
  );
  const view = useSyncExternalStore(store.subscribe, store.getSnapshot, store.getSnapshot);
  return useMemo(() => {
    const markRead = (selection: { ids?: string[]; upToSeq?: number }) => client.notifications.markRead(selection);
    const newest = view.notifications[0];
    const markAllRead = () => (newest === undefined ? Promise.resolve() : markRead({ upToSeq: newest.seq }));
    return { ...view, markRead, markAllRead };
  }, [client, view]);
}
