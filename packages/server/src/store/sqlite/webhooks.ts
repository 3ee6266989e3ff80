/** The SQLite side of webhooks: subscriptions and the delivery outbox, in the same database file. */
import type Database from 'better-sqlite3';
import type { Delivery, Webhook, WebhookStore } from '../store.ts';

const DELIVERY_COLUMNS = `id, webhook_id AS webhookId, seq, event, payload, status, attempts, next_attempt_at_ms AS nextAttemptAtMs,
  last_status AS lastStatus, last_error AS lastError, created_at AS createdAt, delivered_at AS deliveredAt`;

type Row = Omit<Webhook, 'events'> & { events: string };
const toWebhook = (r: Row): Webhook => ({ ...r, events: JSON.parse(r.events) as Webhook['events'] });

/** Writes go through the store's group commit (`write`), so they never interleave with a batch. */
export class SqliteWebhooks implements WebhookStore {
  readonly #db: Database.Database;
  readonly #write: <T>(fn: () => T) => Promise<T>;
  constructor(db: Database.Database, write: <T>(fn: () => T) => Promise<T>) {
    this.#db = db;
    this.#write = write;
  }

  async create(w: Webhook): Promise<void> {
    await this.#write(() => this.#db
      .prepare('INSERT INTO webhooks (id, url, events, secret, created_at, cursor) VALUES (?, ?, ?, ?, ?, ?)')
      .run(w.id, w.url, JSON.stringify(w.events), w.secret, w.createdAt, w.cursor));
  }

  async list(): Promise<Webhook[]> {
    return (this.#db.prepare('SELECT id, url, events, secret, created_at AS createdAt, cursor FROM webhooks ORDER BY created_at').all() as Row[]).map(toWebhook);
  }

  async get(id: string): Promise<Webhook | null> {
    const r = this.#db.prepare('SELECT id, url, events, secret, created_at AS createdAt, cursor FROM webhooks WHERE id = ?').get(id) as Row | undefined;
    return r ? toWebhook(r) : null;
  }

  async remove(id: string): Promise<boolean> {
    return this.#write(() => {
      this.#db.prepare("UPDATE webhook_deliveries SET status = 'failed', last_error = 'webhook deleted' WHERE webhook_id = ? AND status = 'pending'").run(id);
      return this.#db.prepare('DELETE FROM webhooks WHERE id = ?').run(id).changes > 0;
    });
  }

  async enqueue(webhookId: string, deliveries: { seq: number; event: string; payload: string }[], cursor: number, nowMs: number): Promise<void> {
    const insert = this.#db.prepare(
      "INSERT INTO webhook_deliveries (webhook_id, seq, event, payload, status, attempts, next_attempt_at_ms, created_at) VALUES (?, ?, ?, ?, 'pending', 0, ?, ?)",
    );
    const at = new Date(nowMs).toISOString();
    await this.#write(() => {
      for (const d of deliveries) insert.run(webhookId, d.seq, d.event, d.payload, nowMs, at);
      this.#db.prepare('UPDATE webhooks SET cursor = ? WHERE id = ? AND cursor < ?').run(cursor, webhookId, cursor);
    });
  }

  async due(nowMs: number, limit: number): Promise<Delivery[]> {
    return this.#db
      .prepare(`SELECT ${DELIVERY_COLUMNS} FROM webhook_deliveries WHERE status = 'pending' AND next_attempt_at_ms <= ? ORDER BY next_attempt_at_ms, id LIMIT ?`)
      .all(nowMs, limit) as Delivery[];
  }

  async record(id: number, o: Parameters<WebhookStore['record']>[1]): Promise<void> {
    await this.#write(() => this.#db
      .prepare('UPDATE webhook_deliveries SET status = ?, attempts = ?, next_attempt_at_ms = ?, last_status = ?, last_error = ?, delivered_at = ? WHERE id = ?')
      .run(o.status, o.attempts, o.nextAttemptAtMs, o.lastStatus, o.lastError, o.deliveredAt, id));
  }

  async deliveries(webhookId: string, limit: number): Promise<Delivery[]> {
    return this.#db.prepare(`SELECT ${DELIVERY_COLUMNS} FROM webhook_deliveries WHERE webhook_id = ? ORDER BY id DESC LIMIT ?`).all(webhookId, limit) as Delivery[];
  }
}
