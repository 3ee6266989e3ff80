import { EventFilterQuery, EventsQuery, EventsResponse, Snapshot, StreamQuery, TaskPulseError, type EventType } from '@taskpulse/protocol';
import type { z } from 'zod';
import type { Router } from '../http/route.ts';
import type { StreamHub } from '../stream/sse-hub.ts';
import { eventsJson, type EventReader } from '../stream/event-reader.ts';
import type { EventFilter } from '../store/store.ts';
import { READERS, ownerScope, type Principal } from '../auth/principal.ts';
import { signedWithSecret } from '../auth/tokens.ts';


const SnapshotQuery = EventFilterQuery.extend({ access_token: EventsQuery.shape.access_token });

export interface EventRoutesDeps {
  /** The log's one read path, shared with the stream hub. */
  reader: EventReader;
  hub: StreamHub;
  /** False while starting or draining: streams get a 200 with `retry:` and are closed at once. */
  accepting: () => boolean;
  retryMs: number;
  /** Whether a credential is still accepted (a stream re-checks its own while open). */
  authenticate: (credential: string) => unknown;
  corsHeaders: (origin: string | undefined) => Record<string, string>;
}

/** The reader's filter: its query filters within what its credential may see. */
export function readerFilter(p: Principal, q: z.infer<typeof EventFilterQuery>): EventFilter {
  return {
    ...ownerScope(p),
    ...(q.taskId !== undefined ? { taskId: q.taskId } : {}),
    ...(q.tag !== undefined ? { tag: q.tag } : {}),
    ...(q.type !== undefined ? { type: q.type } : {}),
    ...(q.parentId !== undefined ? { parentId: q.parentId } : {}),
    ...(q.events !== undefined ? { events: q.events.split(',') as EventType[] } : {}),
  };
}

export function eventRoutes(r: Router, d: EventRoutesDeps): void {
  r.route(
    {
      method: 'GET', url: '/v1/snapshot', scopes: ['read'], tag: 'events', roles: READERS, query: SnapshotQuery, response: Snapshot, queryToken: true,
      summary: "Every matching active task as of `head` (a stream's opening snapshot): start from it, then follow with `after=head`.",
    },
    async ({ principal, query, reply }) => {
      reply.header('cache-control', 'no-store');
      return d.reader.snapshot(readerFilter(principal, query));
    },
  );

  r.route(
    {
      method: 'GET', url: '/v1/events', scopes: ['read'], tag: 'events', roles: READERS, query: EventsQuery, response: EventsResponse, queryToken: true,
      summary: 'Events after a cursor as JSON (the polling fallback; same cursor as the stream). waitMs makes it a long poll.',
    },
    async ({ principal, query, reply }) => {
      const filter = readerFilter(principal, query);
      const after = query.after ?? 0;
      const limit = query.limit ?? 100;
      const cursor = await d.reader.cursor(after);
      reply.header('cache-control', 'no-store');
      if (cursor.status === 'reset') {
        const snap = await d.reader.snapshot(filter);
        return { events: [], head: snap.head, reset: true, tasks: snap.tasks };
      }
      const abort = new AbortController();
      reply.raw.once('close', () => abort.abort());
      const deadline = Date.now() + (query.waitMs ?? 0);
      for (;;) {
        const page = await d.reader.page(after, filter, limit);
        const left = deadline - Date.now();
        if (page.events.length > 0 || left <= 0 || abort.signal.aborted || !d.accepting()) {
          // The stored wire JSON, concatenated: a string with a JSON content-type is sent as it
          // is, past Fastify's serializer (the same bytes JSON.stringify of the parsed events made).
          reply.type('application/json; charset=utf-8');
          return eventsJson(page);
        }
        await d.hub.waitForEvent(page.head, left, abort.signal);
      }
    },
  );

  r.route(
    {
      method: 'GET', url: '/v1/stream', scopes: ['read'], tag: 'events', roles: READERS, query: StreamQuery, queryToken: true, produces: 'text/event-stream',
      summary: 'Server-Sent Events: snapshot (or resume after Last-Event-ID / after), then live events and named heartbeats.',
    },
    async ({ principal, credential, query, request, reply }) => {
      const lastId = request.headers['last-event-id'];
      let after: number | null = query.after ?? null;
      if (typeof lastId === 'string' && lastId.trim() !== '') {
        if (!/^\d{1,15}$/.test(lastId.trim())) {
          throw new TaskPulseError('invalid_request', 'Last-Event-ID must be an event seq', { fields: ['headers.last-event-id'] });
        }
        after = Number(lastId.trim()); // Last-Event-ID wins over `after`
      }
      const filter = readerFilter(principal, query);
      reply.hijack();
      const res = reply.raw;
      res.writeHead(200, {
        ...d.corsHeaders(request.headers.origin),
        'content-type': 'text/event-stream; charset=utf-8',
        'cache-control': 'no-cache, no-transform',
        connection: 'keep-alive',
        'x-accel-buffering': 'no',
      });
      res.socket?.setNoDelay(true);
      if (!d.accepting()) {
        // Temporary: a browser's EventSource would give up for good on a non-200, so say retry.
        res.end(`retry: ${d.retryMs}\n\n`);
        return reply;
      }
      const coalesce = query.coalesce === 'true' || query.coalesce === '1';
      const delta = query.delta === 'true' || query.delta === '1';
      const expiresAtMs = principal.role === 'viewer' || principal.role === 'staff' ? principal.expiresAtMs : undefined;
      // A token this server signed (HS256 with its secret) stays valid until its `exp`, which ends
      // the stream anyway: only API keys and an identity provider's tokens are re-checked.
      const signedHere = (principal.role === 'viewer' || principal.role === 'staff') && credential !== null && signedWithSecret(credential);
      const check = credential === null || signedHere ? undefined : credentialCheck(d.authenticate, credential);
      const streamCredential = { ...(expiresAtMs !== undefined ? { expiresAtMs } : {}), ...(check ? { check } : {}) };
      await d.hub.open(res, { filter, after, coalesce, delta, heartbeatMs: query.heartbeatMs, credential: streamCredential }).catch((error: unknown) => request.log.warn({ err: error, reqId: request.id }, 'stream ended'));
      return reply;
    },
  );
}

/**
 * Whether an open stream's credential is still accepted. Made outside the route's handler so the
 * closure does not keep the handler's scope (the Fastify request and reply) alive with the stream.
 */
function credentialCheck(authenticate: (credential: string) => unknown, credential: string): () => Promise<boolean> {
  return async () => {
    try {
      return (await authenticate(credential)) !== null;
    } catch (error) {
      // Refused (revoked, expired) is a definite no; anything else (storage down) cannot tell.
      if (error instanceof TaskPulseError && error.code === 'unauthorized') return false;
      throw error;
    }
  };
}
