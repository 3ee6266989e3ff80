import {
  CancelRequest, CreateTaskRequest, ListTasksQuery, ListTasksResponse, LogsQuery, LogsResponse, Task, TaskStatus, ClaimResponse, TaskPulseError,
} from '@taskpulse/protocol';
import { z } from 'zod';
import type { Router } from '../http/route.ts';
import type { TaskService } from '../tasks/service.ts';
import type { TaskReader } from '../tasks/reader.ts';
import { READERS } from '../auth/principal.ts';

const BACKEND: ('admin' | 'worker')[] = ['admin', 'worker'];

export function taskRoutes(r: Router, tasks: TaskService, reader: TaskReader): void {
  r.route(
    {
      method: 'POST', url: '/v1/tasks', scopes: ['tasks:write'], tag: 'tasks', roles: BACKEND, body: CreateTaskRequest, status: 201,
      summary: 'Create a task (Idempotency-Key header: a replay answers 200 with the first task). With `start: true` the answer is `{task, lease}`.',
      response: z.union([Task, ClaimResponse]),
    },
    async ({ principal, body, request, reply }) => {
      const key = request.headers['idempotency-key'];
      if (key !== undefined && (typeof key !== 'string' || key.length < 1 || key.length > 200)) {
        throw new TaskPulseError('invalid_request', 'Idempotency-Key must be 1–200 characters', { fields: ['headers.idempotency-key'] });
      }
      const out = await tasks.create(principal, body, key ?? null);
      reply.code(out.created ? 201 : 200);
      return body.start ? { task: out.task, lease: out.lease } : out.task;
    },
  );

  r.route(
    { method: 'GET', url: '/v1/tasks/:id', scopes: ['read'], tag: 'tasks', roles: READERS, summary: 'One task. Sends an ETag; If-None-Match → 304.', response: Task },
    async ({ principal, params, request, reply }) => {
      const rec = await reader.getVisible(principal, params.id!);
      // queue and eta are computed on read and do not change the ETag: seq identifies the state.
      const etag = `"${rec.id}.${rec.seq}"`;
      reply.header('etag', etag).header('cache-control', 'no-cache');
      const inm = request.headers['if-none-match'];
      if (typeof inm === 'string' && inm.split(',').some((t) => t.trim().replace(/^W\//, '') === etag)) {
        return reply.code(304).send();
      }
      return reader.present(rec);
    },
  );

  r.route(
    {
      method: 'GET', url: '/v1/tasks', scopes: ['read'], tag: 'tasks', roles: READERS, query: ListTasksQuery, response: ListTasksResponse,
      summary: 'List tasks, newest first unless `sort`/`order` say otherwise (server-side, so paging follows the sort). status: one, a comma list, or `active` (queued+running).',
    },
    async ({ principal, query }) => {
      const statuses = query.status ? expandStatuses(query.status) : undefined;
      const sort = { key: query.sort ?? 'created', order: query.order ?? 'desc' } as const;
      return reader.list(principal, { ...listFilter(query), statuses }, query.limit ?? 50, query.cursor ?? null, sort);
    },
  );

  r.route(
    {
      method: 'GET', url: '/v1/tasks/counts', scopes: ['read'], tag: 'tasks', roles: READERS, query: ListTasksQuery.omit({ status: true, limit: true, cursor: true, sort: true, order: true }),
      response: z.object({ counts: z.record(TaskStatus, z.number()) }),
      summary: "How many tasks match the filters, per status (the dashboard's filter bar).",
    },
    async ({ principal, query }) => ({ counts: await reader.counts(principal, listFilter(query)) }),
  );

  r.route(
    {
      method: 'POST', url: '/v1/tasks/:id/cancel', scopes: ['tasks:write'], tag: 'tasks', roles: READERS, response: Task, body: CancelRequest,
      summary: 'Request cancellation: a queued task is canceled at once, a running one gets cancelRequested.',
    },
    async ({ principal, params }) => tasks.cancel(principal, params.id!),
  );

  r.route(
    {
      method: 'POST', url: '/v1/tasks/:id/retry', tag: 'tasks', roles: ['admin', 'staff'], response: Task, body: CancelRequest,
      summary: 'Queue a failed or canceled task again as a new attempt (its earlier attempts are kept); any other status → 409.',
    },
    async ({ params }) => tasks.retry(params.id!),
  );

  r.route(
    {
      method: 'GET', url: '/v1/tasks/:id/logs', scopes: ['read'], tag: 'tasks', roles: READERS, query: LogsQuery,
      response: LogsResponse, summary: "The task's log lines after `after`.",
    },
    async ({ principal, params, query }) => ({ logs: await reader.logs(principal, params.id!, query.after ?? 0, query.limit ?? 1000) }),
  );
}

function listFilter(q: { type?: string; tag?: string; owner?: string; parentId?: string; q?: string; createdFrom?: string; createdTo?: string }) {
  // Stored times are UTC ISO strings, compared as text: bring any offset to UTC first.
  const utc = (t: string | undefined) => (t === undefined ? undefined : new Date(t).toISOString());
  return { type: q.type, tag: q.tag, owner: q.owner, parentId: q.parentId, q: q.q, createdFrom: utc(q.createdFrom), createdTo: utc(q.createdTo) };
}

function expandStatuses(s: string): z.infer<typeof TaskStatus>[] {
  const out = new Set<z.infer<typeof TaskStatus>>();
  for (const part of s.split(',')) {
    if (part === 'active') {
      out.add('queued');
      out.add('running');
    } else out.add(part as z.infer<typeof TaskStatus>);
  }
  return [...out];
}
