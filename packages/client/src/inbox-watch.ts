/**
 * The user's inbox as a live value (`notifications.watch()`): the newest notifications, loaded
 * once and then kept current by the `notification.created` / `notification.read` changes every
 * tab hears. Built on the public notification and connection APIs only, so `@taskpulse/react`
 * wraps this same store rather than keeping its own.
 *
 * Races it settles: a read heard before the list answered wins over that (older) answer; a
 * created notification heard before the answer is kept; an answer to a superseded load is
 * dropped; a failed load is tried again once the connection is `live` or `polling`.
 */
import type { Notification } from '@taskpulse/protocol';
import type { TaskPulseClientError } from './errors.ts';
import type { StateChange } from './state-machine.ts';
import { BaseWatch } from './watch.ts';

/** A change to the inbox, heard by every tab. */
export type NotificationChange =
  | { type: 'created'; notification: Notification }
  | { type: 'read'; ids: string[]; readAt: string };

/** The value of `notifications.watch()`. */
export interface NotificationListView {
  /** Newest first. */
  notifications: Notification[];
  /** How many of them are unread. */
  unread: number;
  loading: boolean;
  error: TaskPulseClientError | undefined;
}

/** Options of `notifications.watch()`. */
export interface InboxWatchOptions {
  /** Hold unread notifications only (a read one leaves the view). @defaultValue false */
  unread?: boolean;
  /** How many notifications to hold, 1–500. @defaultValue the server's page (50) */
  limit?: number;
}

/** What the inbox reads: the list and the changes (`client.notifications` has both). */
export interface InboxSource {
  list(options: { unread?: boolean; limit?: number }): Promise<Notification[]>;
  subscribe(listener: (change: NotificationChange) => void): () => void;
}

/** The connection's state changes (`client.connection` has them). */
export interface ConnectionSource {
  subscribe(listener: (change: StateChange) => void): () => void;
}

/** The live inbox; see the module comment. */
export class InboxWatch extends BaseWatch<NotificationListView> {
  readonly #source: InboxSource;
  readonly #limit: number | undefined;
  readonly #unreadOnly: boolean;
  readonly #byId = new Map<string, Notification>();
  /** Reads heard before the list answered (the answer may predate them). */
  readonly #readAt = new Map<string, string>();
  readonly #offs: Array<() => void> = [];
  #generation = 0;

  constructor(source: InboxSource, connection: ConnectionSource, options: InboxWatchOptions = {}) {
    const { limit, unread = false } = options;
    if (limit !== undefined && (!Number.isInteger(limit) || limit < 1 || limit > 500)) {
      throw new TypeError(`\`limit\` must be an integer from 1 to 500, got ${String(limit)}`);
    }
    super({ notifications: [], unread: 0, loading: true, error: undefined }, () => {
      for (const off of this.#offs.splice(0)) off();
    });
    this.#source = source;
    this.#limit = limit;
    this.#unreadOnly = unread;
    this.#offs.push(
      source.subscribe((change) => this.#apply(change)),
      connection.subscribe(({ current }) => {
        // A failed load is tried again once the server answers.
        if (this.failed && (current === 'live' || current === 'polling')) this.reload();
      }),
    );
    this.reload();
  }

  reload(): void {
    const generation = ++this.#generation;
    this.#source.list({ limit: this.#limit, unread: this.#unreadOnly || undefined }).then(
      (list) => {
        if (generation !== this.#generation || this.closed) return;
        for (const n of list) {
          const held = this.#byId.get(n.id);
          // A read heard as an event wins over an answer that was read before it.
          const readAt = n.readAt ?? held?.readAt ?? this.#readAt.get(n.id) ?? null;
          this.#byId.set(n.id, readAt === n.readAt ? n : { ...n, readAt });
        }
        this.#publish(false, undefined);
      },
      (error: TaskPulseClientError) => {
        if (generation !== this.#generation || this.closed) return;
        this.#publish(false, error);
      },
    );
  }

  #apply(change: NotificationChange): void {
    if (this.closed) return;
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
    this.#publish(this.value.loading, this.value.error);
  }

  #publish(loading: boolean, error: TaskPulseClientError | undefined): void {
    let list = [...this.#byId.values()];
    if (this.#unreadOnly) list = list.filter((n) => n.readAt === null);
    list.sort((a, b) => b.seq - a.seq);
    if (this.#limit !== undefined) {
      list = list.slice(0, this.#limit);
      // Forget what fell off the end, so a long-lived page holds at most `limit`.
      const kept = new Set(list.map((n) => n.id));
      for (const id of [...this.#byId.keys()]) if (!kept.has(id)) this.#byId.delete(id);
    }
    if (this.#readAt.size > 500) this.#readAt.clear();
    this.set({ notifications: list, unread: list.filter((n) => n.readAt === null).length, loading, error });
  }
}
