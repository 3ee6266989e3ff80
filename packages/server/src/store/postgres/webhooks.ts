/**
 * The PostgreSQL side of webhooks: subscriptions and the delivery outbox, in the same database.
 *
 * Several instances run a dispatcher each, so both steps are safe to run concurrently:
 * `enqueue` locks the webhook row and only queues events past its cursor (two instances never
 * queue one event twice), and `due` claims the rows it returns (`FOR UPDATE SKIP LOCKED`, then
 * pushes their next attempt `CLAIM_MS` ahead), so one delivery is sent by one instance at a time;
 * the attempt's outcome (`record`) sets the real next attempt. A claim by an instance that dies
 * expires after `CLAIM_MS` and another instance sends it (delivery stays at least once).
 */
import type pg from 'pg';
import type { Delivery, DeliveryStatus, Webhook, WebhookStore } from '../store.ts';

/** How long a claimed delivery is reserved for the instance sending it (above the 10 s send timeout). */
const CLAIM_MS = 30_000;

const DELIVERY_COLUMNS = `w.id, w.webhook_id AS "webhookId", w.seq, w.event, w.payload, w.status, w.attempts,
  w.next_attempt_at_ms AS "nextAttemptAtMs", w.last_status AS "lastStatus", w.last_error AS "lastError",
  w.created_at AS "createdAt", w.delivered_at AS "deliveredAt"`;
const WEBHOOK_COLUMNS = 'id, url, events, secret, created_at AS "createdAt", cursor';

export class PostgresWebhooks implements WebhookStore {
  readonly #pool: pg.Pool;
  readonly #ready: Promise<void>;

  constructor(pool: pg.Pool, ready: Promise<void>) {
    this.#pool = pool;
    this.#ready = ready;
  }

  async #query<R extends pg.QueryResultRow>(sql: string, params?: unknown[]): Promise<pg.QueryResult<R>> {
    await this.#ready;
    return this.#pool.query<R>(sql, params);
  }

  async create(w: Webhook): Promise<void> {
    await this.#query('INSERT INTO webhooks (id, url, events, secret, created_at, cursor) VALUES ($1, $2, $3, $4, $5, $6)', [
      w.id, w.url, w.events, w.secret, w.createdAt, w.cursor,
    ]);
  }

  async list(): Promise<Webhook[]> {
    return (await this.#query<Webhook>(`SELECT ${WEBHOOK_COLUMNS} FROM webhooks ORDER BY created_at`)).rows;
  }

  async get(id: string): Promise<Webhook | null> {
    return (await this.#query<Webhook>(`SELECT ${WEBHOOK_COLUMNS} FROM webhooks WHERE id = $1`, [id])).rows[0] ?? null;
  }

  async remove(id: string): Promise<boolean> {
    return this.#transaction(async (c) => {
      await c.query("UPDATE webhook_deliveries SET status = 'failed', last_error = 'webhook deleted' WHERE webhook_id = $1 AND status = 'pending'", [id]);
      return ((await c.query('DELETE FROM webhooks WHERE id = $1', [id])).rowCount ?? 0) > 0;
    });
  }

  async enqueue(webhookId: string, deliveries: { seq: number; event: string; payload: string }[], cursor: number, nowMs: number): Promise<void> {
    await this.#transaction(async (c) => {
      const { rows } = await c.query<{ cursor: number }>('SELECT cursor FROM webhooks WHERE id = $1 FOR UPDATE', [webhookId]);
      const from = rows[0]?.cursor;
      if (from === undefined || cursor <= from) return; // deleted, or another instance got there first
      const fresh = deliveries.filter((d) => d.seq > from);
      if (fresh.length > 0) {
        await c.query(
          `INSERT INTO webhook_deliveries (webhook_id, seq, event, payload, status, attempts, next_attempt_at_ms, created_at)
           SELECT $1, s, e, p, 'pending', 0, $5, $6 FROM unnest($2::bigint[], $3::text[], $4::text[]) AS v(s, e, p)`,
          [webhookId, fresh.map((d) => d.seq), fresh.map((d) => d.event), fresh.map((d) => d.payload), nowMs, new Date(nowMs).toISOString()],
        );
      }
      await c.query('UPDATE webhooks SET cursor = $1 WHERE id = $2', [cursor, webhookId]);
    });
  }

  async due(nowMs: number, limit: number): Promise<Delivery[]> {
    const { rows } = await this.#query<Delivery>(
      `WITH d AS (
         SELECT id, next_attempt_at_ms FROM webhook_deliveries WHERE status = 'pending' AND next_attempt_at_ms <= $1
         ORDER BY next_attempt_at_ms, id LIMIT $2 FOR UPDATE SKIP LOCKED
       )
       UPDATE webhook_deliveries w SET next_attempt_at_ms = $3 FROM d WHERE w.id = d.id
       RETURNING ${DELIVERY_COLUMNS.replace('w.next_attempt_at_ms', 'd.next_attempt_at_ms')}`,
      [nowMs, limit, nowMs + CLAIM_MS],
    );
    return rows.sort((a, b) => a.nextAttemptAtMs - b.nextAttemptAtMs || a.id - b.id);
  }

  async record(
    id: number,
    o: { status: DeliveryStatus; attempts: number; nextAttemptAtMs: number; lastStatus: number | null; lastError: string | null; deliveredAt: string | null },
  ): Promise<void> {
    await this.#query(
      'UPDATE webhook_deliveries SET status = $1, attempts = $2, next_attempt_at_ms = $3, last_status = $4, last_error = $5, delivered_at = $6 WHERE id = $7',
      [o.status, o.attempts, o.nextAttemptAtMs, o.lastStatus, o.lastError, o.deliveredAt, id],
    );
  }

  async deliveries(webhookId: string, limit: number): Promise<Delivery[]> {
    return (await this.#query<Delivery>(`SELECT ${DELIVERY_COLUMNS} FROM webhook_deliveries w WHERE w.webhook_id = $1 ORDER BY w.id DESC LIMIT $2`, [
      webhookId, limit,
    ])).rows;
  }

  async #transaction<T>(fn: (c: pg.PoolClient) => Promise<T>): Promise<T> {
    await this.#ready;
    const c = await this.#pool.connect();
    try {
      await c.query('BEGIN');
      const value = await fn(c);
      await c.query('COMMIT');
      return value;
    } catch (error) {
      await c.query('ROLLBACK').catch(() => {});
      throw error;
    } finally {
      c.release();
    }
  }
}
