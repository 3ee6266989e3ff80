/** SQLite: the owners' notification inboxes (written by units of work, write-tx.ts). */
import type Database from 'better-sqlite3';
import type { Notification } from '@taskpulse/protocol';
import type { NotificationStore } from '../store.ts';

export class SqliteNotifications implements NotificationStore {
  readonly #reader: Database.Database;

  constructor(reader: Database.Database) {
    this.#reader = reader;
  }

  async list(owner: string, unreadOnly: boolean, limit: number): Promise<Notification[]> {
    return this.#reader
      .prepare(
        `SELECT id, seq, owner, task_id AS taskId, kind, title, body, created_at AS createdAt, read_at AS readAt
         FROM notifications WHERE owner = ? ${unreadOnly ? 'AND read_at IS NULL' : ''} ORDER BY seq DESC LIMIT ?`,
      )
      .all(owner, limit) as Notification[];
  }
}
