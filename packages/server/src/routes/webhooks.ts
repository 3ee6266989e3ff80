import { CreateWebhookRequest, DeleteWebhookResponse, DeliveriesResponse, ListWebhooksResponse, TaskPulseError, WebhookInfo } from '@taskpulse/protocol';
import { z } from 'zod';
import type { Router } from '../http/route.ts';
import type { Store, Webhook } from '../store/store.ts';
import { newId } from '../ids.ts';

const info = (w: Webhook) => ({ id: w.id, url: w.url, events: w.events, createdAt: w.createdAt });

export function webhookRoutes(r: Router, store: Store, changed: () => void, wake: () => void): void {
  r.route(
    {
      method: 'POST', url: '/v1/webhooks', tag: 'webhooks', roles: ['admin'], body: CreateWebhookRequest, status: 201, response: WebhookInfo,
      summary: 'Subscribe a URL to events from now on. Deliveries carry the event JSON, signed: x-taskpulse-signature = hex HMAC-SHA256(secret, body).',
    },
    async ({ body }) => {
      const w: Webhook = { id: newId('whk'), url: body.url, events: body.events, secret: body.secret, createdAt: new Date().toISOString(), cursor: await store.events.head() };
      await store.webhooks.create(w);
      changed();
      return info(w);
    },
  );
  r.route(
    { method: 'GET', url: '/v1/webhooks', tag: 'webhooks', roles: ['admin'], summary: 'List webhooks (never their secrets).', response: ListWebhooksResponse },
    async () => ({ webhooks: (await store.webhooks.list()).map(info) }),
  );
  r.route(
    { method: 'DELETE', url: '/v1/webhooks/:id', tag: 'webhooks', roles: ['admin'], summary: 'Delete a webhook; its pending deliveries are dropped.', response: DeleteWebhookResponse },
    async ({ params }) => {
      if (!(await store.webhooks.remove(params.id!))) throw new TaskPulseError('not_found', `no webhook ${params.id}`);
      changed();
      return { id: params.id, deleted: true };
    },
  );
  r.route(
    {
      method: 'GET', url: '/v1/webhooks/:id/deliveries', tag: 'webhooks', roles: ['admin'], query: z.object({ limit: z.coerce.number().int().min(1).max(500).optional() }),
      summary: 'Delivery history, newest first: status, attempts, last answer or error, next attempt.', response: DeliveriesResponse,
    },
    async ({ params, query }) => {
      if (!(await store.webhooks.get(params.id!))) throw new TaskPulseError('not_found', `no webhook ${params.id}`);
      wake();
      const list = await store.webhooks.deliveries(params.id!, query.limit ?? 100);
      return {
        deliveries: list.map((d) => ({
          id: d.id, seq: d.seq, event: d.event, status: d.status, attempts: d.attempts, lastStatus: d.lastStatus, lastError: d.lastError,
          createdAt: d.createdAt, deliveredAt: d.deliveredAt, nextAttemptAt: d.status === 'pending' ? new Date(d.nextAttemptAtMs).toISOString() : null,
        })),
      };
    },
  );
}
