/** PostgreSQL: the owners' notification inboxes (written by units of work, write-tx.ts). */
import type { Notification } from '@taskpulse/protocol';
import type { NotificationStore } from '../store.ts';
import type { PgRead } from './tasks.ts';

export class PostgresNotifications implements NotificationStore {
  readonly #read: PgRead;

  constructor(read: PgRead) {
    this.#read = read;
  }

  async list(owner: string, unreadOnly: boolean, limit: number): Promise<Notification[]> {
    return (await this.#read(
      `SELECT id, seq, owner, task_id AS "taskId", kind, title, body, created_at AS "createdAt", read_at AS "readAt"
       FROM notifications WHERE owner = $1 ${unreadOnly ? 'AND read_at IS NULL' : ''} ORDER BY seq DESC LIMIT $2`,
      [owner, limit],
    )) as unknown as Notification[];
  }
}
