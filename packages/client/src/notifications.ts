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

export class Notifications implements NotificationsApi {
  #deps: NotificationsDeps;
  #changes = listeners<NotificationChange>();
  #byKind = { completed: listeners<Notification>(), failed: listeners<Notification>(), canceled: listeners<Notification>(), any: listeners<Notification>() };
  #delivered = new Set<string>();
  #draining = false;
  #drainAgain = false;
  #ready = false;
  #closed = false;

  constructor(deps: NotificationsDeps) {
    this.#deps = deps;
    // Bound, so `const { onComplete } = client.notifications` and hook bindings work.
    for (const name of ['list', 'markRead', 'subscribe', 'watch', 'onComplete', 'onFail', 'onNotification', 'requestPermission'] as const) {
      (this as Record<string, unknown>)[name] = (this[name] as (...args: never[]) => unknown).bind(this);
    }
  }

  async list(options: { unread?: boolean; limit?: number } & CallOptions = {}): Promise<Notification[]> {
    const res = await this.#deps.http.json<NotificationsResponse>('GET', '/v1/notifications', {
      query: { unread: options.unread === undefined ? undefined : String(options.unread), limit: options.limit },
      signal: options.signal,
    });
    return res.notifications;
  }

  async markRead(selection: { ids?: string[]; upToSeq?: number }, options: CallOptions = {}): Promise<void> {
    await this.#deps.http.json<MarkReadResponse>('POST', '/v1/notifications/read', { body: selection, signal: options.signal });
  }

  subscribe(listener: (change: NotificationChange) => void): Unsubscribe {
    return this.#changes.add(listener);
  }

  watch(options: InboxWatchOptions = {}): Watch<NotificationListView> {
    return new InboxWatch(this, this.#deps.connection, options);
  }

  onComplete(listener: (n: Notification) => void): Unsubscribe {
    return this.#on('completed', listener);
  }

  onFail(listener: (n: Notification) => void): Unsubscribe {
    return this.#on('failed', listener);
  }

  onNotification(listener: (n: Notification) => void): Unsubscribe {
    return this.#on('any', listener);
  }

  async requestPermission(): Promise<string> {
    const api = this.#deps.env.Notification;
    if (api === undefined) return 'denied';
    const permission = await api.requestPermission();
    if (permission === 'granted') this.drain();
    return permission;
  }

  /** The connection is up: deliver what the inbox holds, and from now on what arrives. */
  /** True once `start()` has run: the inbox has been (or is being) read. */
  get started(): boolean {
    return this.#ready;
  }

  start(): void {
    this.#ready = true;
    this.drain();
  }

  close(): void {
    this.#closed = true;
  }

  /** Feeds a `notification.*` event (from the stream, a poll, or the leader tab). */
  handleEvent(event: TaskEvent): void {
    if (event.type === 'notification.created' && event.notification) {
      this.#emit({ type: 'created', notification: event.notification });
      this.drain();
    } else if (event.type === 'notification.read') {
      const read = event.read ?? (event.notification ? { ids: [event.notification.id], readAt: event.notification.readAt ?? event.at } : undefined);
      if (read) this.#emit({ type: 'read', ids: read.ids, readAt: read.readAt });
    }
  }

  /** Delivers unread notifications that have a listener; one drain at a time. */
  drain(): void {
    if (!this.#ready || this.#closed || !this.#hasConsumers()) return;
    if (this.#draining) {
      this.#drainAgain = true;
      return;
    }
    this.#draining = true;
    const { locks, lockName } = this.#deps;
    const run = () => this.#drainOnce();
    const done = locks ? locks.request(lockName, {}, run) : run();
    void Promise.resolve(done)
      .catch((error: unknown) => this.#deps.onError(error))
      .finally(() => {
        this.#draining = false;
        if (this.#drainAgain) {
          this.#drainAgain = false;
          this.drain();
        }
      });
  }

  async #drainOnce(): Promise<void> {
    // Read the inbox inside the lock: another tab may have delivered and marked read a moment ago.
    const unread = await this.list({ unread: true, limit: 100 });
    unread.sort((a, b) => a.seq - b.seq);
    const ids: string[] = [];
    for (const n of unread) {
      if (this.#closed) return;
      if (this.#delivered.has(n.id)) {
        ids.push(n.id); // delivered earlier, but marking read failed: try again
        continue;
      }
      if (!this.#consumes(n.kind)) continue;
      this.#delivered.add(n.id);
      this.#deliver(n);
      ids.push(n.id);
    }
    if (ids.length > 0) await this.markRead({ ids });
  }

  #on(kind: Kind | 'any', listener: (n: Notification) => void): Unsubscribe {
    // Listeners usually register right after createClient: let them all register, then drain.
    queueMicrotask(() => this.drain());
    return this.#byKind[kind].add(listener);
  }

  #browserApi(): BrowserNotificationApi | undefined {
    const api = this.#deps.env.Notification;
    return this.#deps.browserNotifications && api !== undefined && api.permission === 'granted' ? api : undefined;
  }

  #consumes(kind: Kind): boolean {
    return this.#byKind[kind].size > 0 || this.#byKind.any.size > 0 || this.#browserApi() !== undefined;
  }

  #hasConsumers(): boolean {
    return (['completed', 'failed', 'canceled'] as const).some((k) => this.#consumes(k));
  }

  #deliver(n: Notification): void {
    this.#byKind[n.kind].emit(n, this.#deps.onError);
    this.#byKind.any.emit(n, this.#deps.onError);
    const api = this.#browserApi();
    if (api === undefined) return;
    try {
      // Failures stay until the user dismisses them; successes close themselves.
      const shown = new api(n.title, { body: n.body, tag: n.taskId, requireInteraction: n.kind !== 'completed' });
      if (n.kind === 'completed') this.#deps.env.timers.setTimeout(() => shown.close(), this.#deps.autoCloseMs);
    } catch (error) {
      this.#deps.onError(error);
    }
  }

  #emit(change: NotificationChange): void {
    this.#changes.emit(change, this.#deps.onError);
  }
}
