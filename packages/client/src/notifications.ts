/**
 * The user's inbox, and completion callbacks that fire exactly once per task across tabs and
 * reloads. The server's inbox is the truth: a notification is delivered by the tab that claims
 * it (under a Web Lock when there are several tabs), which then marks it read on the server;
 * every other tab, and every later page load, finds it read.
 */
import type { MarkReadResponse, Notification, NotificationsResponse, TaskEvent } from '@taskpulse/protocol';
import type { BrowserNotificationApi, Environment, LockManagerLike } from './environment.ts';
import type { CallOptions, Http } from './http.ts';
import { listeners } from './listeners.ts';
import { type ConnectionSource, InboxWatch, type InboxWatchOptions, type NotificationChange, type NotificationListView } from './inbox-watch.ts';
import type { Watch } from './watch.ts';

export type { NotificationChange, NotificationListView } from './inbox-watch.ts';

export type Unsubscribe = () => void;

/** `client.notifications`. */
export interface NotificationsApi {
  /** The inbox, newest first. */
  list(options?: { unread?: boolean; limit?: number } & CallOptions): Promise<Notification[]>;
  /** Marks notifications read (by id, or every one up to a `seq`); every tab hears it. */
  markRead(selection: { ids?: string[]; upToSeq?: number }, options?: CallOptions): Promise<void>;
  /** Every change to the inbox, in every tab. */
  subscribe(listener: (change: NotificationChange) => void): Unsubscribe;
  /**
   * A live view of the inbox (loaded, then kept current by `notification.created` / `.read`
   * events in every tab). With `unread: true` read notifications leave the view; `limit`
   * (1–500) caps how many it holds.
   */
  watch(options?: InboxWatchOptions): Watch<NotificationListView>;
  /**
   * Called once per completed task, in one tab, across reloads; the notification is then marked
   * read. Unread completions from before the page loaded are delivered too.
   */
  onComplete(listener: (notification: Notification) => void): Unsubscribe;
  /** As `onComplete`, for failed tasks. */
  onFail(listener: (notification: Notification) => void): Unsubscribe;
  /** As `onComplete`, for every kind (completed, failed, canceled). */
  onNotification(listener: (notification: Notification) => void): Unsubscribe;
  /**
   * Asks for permission to show system notifications (browser `Notification` API). Browsers allow
   * this only inside a user gesture: call it from a click handler. Resolves to the permission.
   */
  requestPermission(): Promise<string>;
}

type Kind = Notification['kind'];

export interface NotificationsDeps {
  http: Http;
  env: Environment;
  /** The connection's state changes: a failed inbox load is tried again when it recovers. */
  connection: ConnectionSource;
  /** Web Locks when several tabs share the inbox; `undefined` for a single client. */
  locks: LockManagerLike | undefined;
  lockName: string;
  browserNotifications: boolean;
  autoCloseMs: number;
  /** Errors of background work (delivery, marking read), for diagnostics. */
  onError(error: unknown): void;
}

/** The inbox as the client drives it: the public API plus the connection's hooks. */
export interface Notifications extends NotificationsApi {
  /** True once `start()` has run: the inbox has been (or is being) read. */
  readonly started: boolean;
  /** The connection is up: deliver what the inbox holds, and from now on what arrives. */
  start(): void;
  close(): void;
  /** Feeds a `notification.*` event (from the stream, a poll, or the leader tab). */
  handleEvent(event: TaskEvent): void;
}

// A closure rather than a class: every method is bound without a `bind` per name
// (`const { onComplete } = client.notifications` and hook bindings work), and the bundle is smaller.
export function createNotifications(deps: NotificationsDeps): Notifications {
  const { http, env, onError } = deps;
  const changes = listeners<NotificationChange>();
  const byKind = { completed: listeners<Notification>(), failed: listeners<Notification>(), canceled: listeners<Notification>(), any: listeners<Notification>() };
  const delivered = new Set<string>();
  let draining = false;
  let drainAgain = false;
  let ready = false;
  let closed = false;

  const on = (kind: Kind | 'any') => (listener: (n: Notification) => void): Unsubscribe => {
    // Listeners usually register right after createClient: let them all register, then drain.
    queueMicrotask(drain);
    return byKind[kind].add(listener);
  };

  const browserApi = (): BrowserNotificationApi | undefined => {
    const api = env.Notification;
    return deps.browserNotifications && api !== undefined && api.permission === 'granted' ? api : undefined;
  };

  const consumes = (kind: Kind): boolean => byKind[kind].size > 0 || byKind.any.size > 0 || browserApi() !== undefined;

  /** Delivers unread notifications that have a listener; one drain at a time. */
  function drain(): void {
    if (!ready || closed || !(['completed', 'failed', 'canceled'] as const).some(consumes)) return;
    if (draining) {
      drainAgain = true;
      return;
    }
    draining = true;
    const { locks, lockName } = deps;
    const done = locks ? locks.request(lockName, {}, drainOnce) : drainOnce();
    void Promise.resolve(done)
      .catch(onError)
      .finally(() => {
        draining = false;
        if (drainAgain) {
          drainAgain = false;
          drain();
        }
      });
  }

  async function drainOnce(): Promise<void> {
    // Read the inbox inside the lock: another tab may have delivered and marked read a moment ago.
    const unread = await api.list({ unread: true, limit: 100 });
    unread.sort((a, b) => a.seq - b.seq);
    const ids: string[] = [];
    for (const n of unread) {
      if (closed) return;
      if (delivered.has(n.id)) {
        ids.push(n.id); // delivered earlier, but marking read failed: try again
        continue;
      }
      if (!consumes(n.kind)) continue;
      delivered.add(n.id);
      deliver(n);
      ids.push(n.id);
    }
    if (ids.length > 0) await api.markRead({ ids });
  }

  function deliver(n: Notification): void {
    byKind[n.kind].emit(n, onError);
    byKind.any.emit(n, onError);
    const browser = browserApi();
    if (browser === undefined) return;
    try {
      // Failures stay until the user dismisses them; successes close themselves.
      const shown = new browser(n.title, { body: n.body, tag: n.taskId, requireInteraction: n.kind !== 'completed' });
      if (n.kind === 'completed') env.timers.setTimeout(() => shown.close(), deps.autoCloseMs);
    } catch (error) {
      onError(error);
    }
  }

  const api: Notifications = {
    async list(options = {}) {
      const res = await http.json<NotificationsResponse>('GET', '/v1/notifications', {
        query: { unread: options.unread === undefined ? undefined : String(options.unread), limit: options.limit },
        signal: options.signal,
      });
      return res.notifications;
    },

    async markRead(selection, options = {}) {
      await http.json<MarkReadResponse>('POST', '/v1/notifications/read', { body: selection, signal: options.signal });
    },

    subscribe: (listener) => changes.add(listener),
    watch: (options = {}) => new InboxWatch(api, deps.connection, options),
    onComplete: on('completed'),
    onFail: on('failed'),
    onNotification: on('any'),

    async requestPermission() {
      const browser = env.Notification;
      if (browser === undefined) return 'denied';
      const permission = await browser.requestPermission();
      if (permission === 'granted') drain();
      return permission;
    },

    get started() {
      return ready;
    },

    start() {
      ready = true;
      drain();
    },

    close() {
      closed = true;
    },

    handleEvent(event) {
      if (event.type === 'notification.created' && event.notification) {
        changes.emit({ type: 'created', notification: event.notification }, onError);
        drain();
      } else if (event.type === 'notification.read') {
        const read = event.read ?? (event.notification ? { ids: [event.notification.id], readAt: event.notification.readAt ?? event.at } : undefined);
        if (read) changes.emit({ type: 'read', ids: read.ids, readAt: read.readAt }, onError);
      }
    },
  };
  return api;
}
