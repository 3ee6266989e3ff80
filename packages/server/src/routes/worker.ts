import {
  BatchProgressRequest, BatchProgressResponse, HeartbeatResponse, ClaimRequest, ClaimResponse, CompleteRequest, FailRequest, HeartbeatRequest, ProgressRequest,
  ProgressResponse, Task,
} from '@taskpulse/protocol';
import { z } from 'zod';
import type { Router } from '../http/route.ts';
import type { TaskService } from '../tasks/service.ts';
import { fastBatchProgress, fastProgress } from '../http/fast-body.ts';

const BACKEND: ('admin' | 'worker')[] = ['admin', 'worker'];

export function workerRoutes(r: Router, tasks: TaskService): void {
  r.route(
    {
      method: 'POST', url: '/v1/tasks/claim', scopes: ['tasks:claim'], tag: 'worker', roles: BACKEND, body: ClaimRequest, response: ClaimResponse,
      summary: 'Claim the oldest queued task (of `types`), waiting up to `waitMs`; 204 when none.',
    },
    async ({ body, request, reply }) => {
      const abort = new AbortController();
      reply.raw.once('close', () => abort.abort());
      const out = await tasks.claim(body.types ?? [], body.leaseMs, body.waitMs ?? 0, abort.signal);
      if (!out) return reply.code(204).send();
      return out;
    },
  );

  r.route(
    {
      method: 'POST', url: '/v1/tasks/:id/progress', scopes: ['tasks:write', 'tasks:claim'], tag: 'worker', roles: BACKEND, body: ProgressRequest, fastBody: fastProgress, response: ProgressResponse,
      summary: 'Report progress, stage, message, metadata or a log line; renews the lease.',
    },
    async ({ params, body }) => tasks.progress(params.id!, body),
  );

  r.route(
    {
      method: 'POST', url: '/v1/progress', scopes: ['tasks:write', 'tasks:claim'], tag: 'worker', roles: BACKEND, body: BatchProgressRequest, fastBody: fastBatchProgress,
      summary: 'Many reports in one request, applied in order; one result per update.',
      response: BatchProgressResponse,
    },
    async ({ body }) => ({ results: await tasks.progressMany(body.updates) }),
  );

  r.route(
    {
      method: 'POST', url: '/v1/tasks/:id/heartbeat', scopes: ['tasks:write', 'tasks:claim'], tag: 'worker', roles: BACKEND, body: HeartbeatRequest,
      response: HeartbeatResponse, summary: 'Renew the lease only.',
    },
    async ({ params, body }) => tasks.heartbeat(params.id!, body.lease, body.leaseMs),
  );

  r.route(
    { method: 'POST', url: '/v1/tasks/:id/complete', scopes: ['tasks:write', 'tasks:claim'], tag: 'worker', roles: BACKEND, body: CompleteRequest, response: Task, summary: 'Complete with a result.' },
    async ({ params, body }) => tasks.complete(params.id!, body.lease, body.result),
  );

  r.route(
    {
      method: 'POST', url: '/v1/tasks/:id/fail', scopes: ['tasks:write', 'tasks:claim'], tag: 'worker', roles: BACKEND, body: FailRequest, response: Task,
      summary: 'Fail; back to queued when `retry` and attempts remain; `error.code = "canceled"` confirms a cancellation.',
    },
    async ({ params, body }) => tasks.fail(params.id!, body),
  );
}
