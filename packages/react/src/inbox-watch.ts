/**
 * The user's inbox as a live value: the newest notifications, loaded once and then kept
 * current by the `notification.created` / `notification.read` events every tab hears. Free of
 * React; `useNotifications` wraps it in a {@link WatchBinding}.
 */
import type { ConnectionApi, Notification, NotificationChange, NotificationsApi, TaskPulseClientError } from '@taskpulse/client';
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

export class InboxWatch implements ClosableStore<InboxView> {
  readonly #api: NotificationsApi;
  readonly #limit: number;
  readonly #unreadOnly: boolean;
  readonly #byId = new Map<string, Notification>();
  /** Reads heard before the list answered (the answer may predate them). */
  readonly #readAt = new Map<string, string>();
  readonly #listeners = new Set<(value: InboxView) => void>();
  readonly #offs: Array<() => void>;
  #value: InboxView = { notifications: [], unreadCount: 0, loading: true, error: undefined };
  #generation = 0;
  #closed = false;

  constructor(api: NotificationsApi, connection: ConnectionApi, options: InboxOptions = {}) {
    const limit = options.limit ?? 20;
    if (!Number.isInteger(limit) || limit < 1 || limit > 500) throw new TypeError(`\`limit\` must be an integer from 1 to 500, got ${String(limit)}`);
    this.#api = api;
    this.#limit = limit;
    this.#unreadOnly = options.unreadOnly ?? false;
    this.#offs = [
      api.subscribe((change) => this.#apply(change)),
      connection.subscribe(({ current }) => {
        // A failed first load is tried again once the server answers.
        if (this.#value.error !== undefined && (current === 'live' || current === 'polling')) this.#load();
      }),
    ];
    this.#load();
  }

  getSnapshot = (): InboxView => this.#value;

  subscribe = (listener: (value: InboxView) => void): (() => void) => {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  };

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#listeners.clear();
    for (const off of this.#offs) off();
  }

  #load(): void {
    const generation = ++this.#generation;
    this.#api.list({ limit: this.#limit, ...(this.#unreadOnly ? { unread: true } : {}) }).then(
      (list) => {
        if (generation !== this.#generation || this.#closed) return;
        for (const n of list) {
          const held = this.#byId.get(n.id);
          // A read heard as an event wins over an answer that was read before it.
          const readAt = n.readAt ?? held?.readAt ?? this.#readAt.get(n.id) ?? null;
          this.#byId.set(n.id, readAt === n.readAt ? n : { ...n, readAt });
        }
        this.#publish(false, undefined);
      },
      (error: TaskPulseClientError) => {
        if (generation !== this.#generation || this.#closed) return;
        this.#publish(false, error);
      },
    );
  }

  #apply(change: NotificationChange): void {
    if (this.#closed) return;
    if (change.type === 'created') {
      const readAt = this.#readAt.get(change.notification.id) ?? change.notification.readAt;
      this.#byId.set(change.notification.id, { ...change.notification, readAt });
    } else {
      for (const id of change.ids) {
        this.#readAt.set(id, change.readAt);
        const held = this.#byId.get(id);
        if (held !== undefined && held.readAt === null) this.#byId.set(id, { ...held, readAt: change.readAt });
      }
    }
    this.#publish(this.#value.loading, this.#value.error);
  }

  #publish(loading: boolean, error: TaskPulseClientError | undefined): void {
    let list = [...this.#byId.values()];
    if (this.#unreadOnly) list = list.filter((n) => n.readAt === null);
    list.sort((a, b) => b.seq - a.seq);
    list = list.slice(0, this.#limit);
    // Forget what fell off the end, so a long-lived page holds at most `limit`.
    const kept = new Set(list.map((n) => n.id));
    for (const id of [...this.#byId.keys()]) if (!kept.has(id)) this.#byId.delete(id);
    if (this.#readAt.size > 10 * this.#limit) this.#readAt.clear();
    this.#value = { notifications: list, unreadCount: list.filter((n) => n.readAt === null).length, loading, error };
    for (const listener of [...this.#listeners]) listener(this.#value);
  }
}
