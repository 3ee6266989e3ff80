import {
  CreateKeyRequest, CreateKeyResponse, CreateTokenRequest, ListKeysResponse, MarkReadRequest, MarkReadResponse, NotificationsQuery, NotificationsResponse,
  RevokeKeyResponse, TaskPulseError, TokenResponse,
} from '@taskpulse/protocol';
import { z } from 'zod';
import type { Router } from '../http/route.ts';
import type { KeyService } from '../auth/keys.ts';
import type { TokenService } from '../auth/tokens.ts';
import type { TaskService } from '../tasks/service.ts';
import type { TaskReader } from '../tasks/reader.ts';

export function accessRoutes(r: Router, keys: KeyService, tokens: TokenService): void {
  r.route(
    {
      method: 'POST', url: '/v1/keys', tag: 'credentials', roles: ['admin'], body: CreateKeyRequest, status: 201,
      response: CreateKeyResponse,
      summary: 'Create an API key; the key is shown once.',
    },
    async ({ body }) => {
      const k = await keys.create(body.role, body.name ?? null, body.scopes);
      return { id: k.id, key: k.key, role: k.info.role, name: k.info.name, scopes: k.info.scopes, prefix: k.info.prefix, createdAt: k.info.createdAt };
    },
  );
  r.route(
    { method: 'GET', url: '/v1/keys', tag: 'credentials', roles: ['admin'], response: ListKeysResponse, summary: 'List API keys (never the keys themselves).' },
    async () => ({ keys: await keys.list() }),
  );
  r.route(
    { method: 'DELETE', url: '/v1/keys/:id', tag: 'credentials', roles: ['admin'], summary: 'Revoke an API key.', response: RevokeKeyResponse },
    async ({ params }) => {
      await keys.revoke(params.id!);
      return { id: params.id, revoked: true };
    },
  );
  r.route(
    {
      method: 'POST', url: '/v1/tokens', scopes: ['tokens:mint'], tag: 'credentials', roles: ['admin', 'worker'], body: CreateTokenRequest, status: 201,
      response: TokenResponse,
      summary: 'Mint a viewer token for one owner (optionally limited to some tasks), or (admin only) a staff token for the dashboard: `{role: "staff"}`.',
    },
    async ({ principal, body }) => {
      if (body.role === 'staff') {
        if (principal.role !== 'admin') throw new TaskPulseError('forbidden', 'only an admin may mint a staff token');
        return tokens.mintStaff(body.ttlSeconds);
      }
      return tokens.mint(body.owner!, body.ttlSeconds, body.taskIds);
    },
  );
}

export function notificationRoutes(r: Router, tasks: TaskService, reader: TaskReader): void {
  r.route(
    {
      method: 'GET', url: '/v1/notifications', tag: 'notifications', roles: ['viewer', 'admin', 'staff'], query: NotificationsQuery,
      response: NotificationsResponse, summary: "The owner's inbox: a notification per finished task.",
    },
    async ({ principal, query }) => {
      let owner: string;
      if (principal.role === 'viewer') {
        if (query.owner !== undefined && query.owner !== principal.owner) throw new TaskPulseError('forbidden', 'a viewer may only read its own notifications');
        owner = principal.owner;
      } else {
        if (query.owner === undefined) throw new TaskPulseError('invalid_request', `${principal.role === 'staff' ? 'a staff token' : 'an admin'} must name the \`owner\``, { fields: ['query.owner'] });
        owner = query.owner;
      }
      let list = await reader.notifications(owner, query.unread === 'true', query.limit ?? 50);
      if (principal.role === 'viewer' && principal.taskIds) list = list.filter((n) => principal.taskIds!.has(n.taskId));
      return { notifications: list };
    },
  );
  r.route(
    {
      method: 'POST', url: '/v1/notifications/read', tag: 'notifications', roles: ['viewer', 'admin'], body: MarkReadRequest,
      response: MarkReadResponse,
      summary: 'Mark notifications read (ids or everything up to upToSeq); every tab learns it via notification.read.',
    },
    async ({ principal, body, request }) => {
      let owner: string;
      if (principal.role === 'viewer') owner = principal.owner;
      else {
        const q = (request.query as Record<string, unknown>).owner;
        if (typeof q !== 'string' || q.length === 0 || q.length > 128) throw new TaskPulseError('invalid_request', 'an admin must name the `owner` in the query', { fields: ['query.owner'] });
        owner = q;
      }
      return tasks.markRead(owner, body);
    },
  );
}
