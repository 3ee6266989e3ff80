/**
 * Webhook delivery from a durable outbox.
 *
 * The event log is the source: for each webhook a cursor says how far its events have been turned
 * into delivery rows (one transaction moves both), and a sender works through the rows that are
 * due, signing each body. A failure is retried with full-jitter backoff until `maxAttempts`; every
 * attempt is recorded, so the history is visible (`GET /v1/webhooks/:id/deliveries`). A restart
 * loses nothing: both the cursor and the rows are on disk.
 */
import type { Store, Webhook, Delivery } from '../store/store.ts';
import { sign } from './signature.ts';
import { fullJitterMs } from '@taskpulse/protocol/retry';

export interface DispatcherConfig {
  maxAttempts: number;
  baseDelayMs: number;
  maxDelayMs: number;
  timeoutMs: number;
  concurrency: number;
}

export const WEBHOOK_DEFAULTS: DispatcherConfig = Object.freeze({
  maxAttempts: 8,
  baseDelayMs: 1000,
  maxDelayMs: 5 * 60_000,
  timeoutMs: 10_000,
  concurrency: 8,
});

export class WebhookDispatcher {
  readonly #store: Store;
  readonly #config: DispatcherConfig;
  readonly #fetch: typeof fetch;
  readonly #inflight = new Set<number>();
  #running = false;
  #again = false;
  /** Subscriptions, re-read when changed here and at least every 5 s (another instance may change them). */
  #hooks: Webhook[] | null = null;
  #hooksAt = 0;
  #version = 0;
  #closed = false;
  #onError: (e: unknown) => void;

  constructor(store: Store, config: DispatcherConfig, deps: { fetch?: typeof fetch; onError?: (e: unknown) => void } = {}) {
    this.#store = store;
    this.#config = config;
    this.#fetch = deps.fetch ?? fetch;
    this.#onError = deps.onError ?? (() => {});
  }

  /** Runs one round (called on commits and on a timer); overlapping calls coalesce. */
  async tick(): Promise<void> {
    if (this.#closed) return;
    if (this.#running) {
      this.#again = true;
      return;
    }
    this.#running = true;
    try {
      do {
        this.#again = false;
        const hooks = await this.#subscriptions();
        if (hooks.length === 0) continue; // nothing subscribed: a commit costs nothing here
        for (const h of hooks) await this.#enqueue(h);
        await this.#send(hooks);
      } while (this.#again && !this.#closed);
    } catch (error) {
      this.#onError(error);
    } finally {
      this.#running = false;
    }
  }

  /** Call after creating or deleting a webhook. */
  changed(): void {
    this.#hooks = null;
    this.#version++;
  }

  async #subscriptions(): Promise<Webhook[]> {
    if (this.#hooks !== null && Date.now() - this.#hooksAt <= 5000) return this.#hooks;
    const version = this.#version;
    const list = await this.#store.webhooks.list();
    // A change while the list was being read makes it stale: use it once, don't keep it.
    if (version === this.#version) {
      this.#hooks = list;
      this.#hooksAt = Date.now();
    }
    return list;
  }

  async #enqueue(h: Webhook): Promise<void> {
    for (;;) {
      const { events, head } = await this.#store.events.read(h.cursor, { events: h.events }, 500);
      const cursor = events.length === 500 ? events[events.length - 1]!.seq : head;
      if (cursor <= h.cursor) return;
      await this.#store.webhooks.enqueue(h.id, events.map((e) => ({ seq: e.seq, event: e.type, payload: e.json })), cursor, Date.now());
      h.cursor = cursor;
      if (events.length < 500) return;
    }
  }

  async #send(subscribed: Webhook[]): Promise<void> {
    const free = this.#config.concurrency - this.#inflight.size;
    if (free <= 0) return;
    const due = (await this.#store.webhooks.due(Date.now(), free + this.#inflight.size)).filter((d) => !this.#inflight.has(d.id)).slice(0, free);
    if (due.length === 0) return;
    const hooks = new Map(subscribed.map((h) => [h.id, h]));
    for (const d of due) {
      const h = hooks.get(d.webhookId);
      if (!h) continue;
      this.#inflight.add(d.id);
      void this.#deliver(h, d).finally(() => this.#inflight.delete(d.id));
    }
  }

  async #deliver(h: Webhook, d: Delivery): Promise<void> {
    const attempts = d.attempts + 1;
    let status: number | null = null;
    let error: string | null = null;
    try {
      const res = await this.#fetch(h.url, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'user-agent': 'TaskPulse-Webhooks/1',
          'x-taskpulse-signature': sign(h.secret, d.payload),
          'x-taskpulse-event': d.event,
          'x-taskpulse-delivery': String(d.id),
          'x-taskpulse-seq': String(d.seq),
        },
        body: d.payload,
        signal: AbortSignal.timeout(this.#config.timeoutMs),
        redirect: 'manual',
      });
      status = res.status;
      await res.body?.cancel().catch(() => {});
      if (res.ok) {
        await this.#store.webhooks.record(d.id, {
          status: 'delivered', attempts, nextAttemptAtMs: d.nextAttemptAtMs, lastStatus: status, lastError: null, deliveredAt: new Date().toISOString(),
        });
        return;
      }
      error = `answered ${status}`;
    } catch (e) {
      error = (e as Error).name === 'TimeoutError' ? `no answer within ${this.#config.timeoutMs} ms` : `network error: ${(e as Error).message}`;
    }
    const giveUp = attempts >= this.#config.maxAttempts;
    await this.#store.webhooks
      .record(d.id, {
        status: giveUp ? 'failed' : 'pending',
        attempts,
        nextAttemptAtMs: Date.now() + Math.max(this.#config.baseDelayMs / 2, fullJitterMs(attempts - 1, { baseMs: this.#config.baseDelayMs, maxMs: this.#config.maxDelayMs })),
        lastStatus: status,
        lastError: error,
        deliveredAt: null,
      })
      .catch(this.#onError);
  }

  /** Stops scheduling; in-flight deliveries finish (or time out) on their own and stay pending otherwise. */
  async close(): Promise<void> {
    this.#closed = true;
  }
}
