/**
 * An in-memory TaskPulse server behind an injected `fetch`, for unit tests: the event log, the
 * stream (with controllable stalls and failures), tasks, notifications and tokens.
 */
import type { Notification, Task, TaskEvent } from '@taskpulse/protocol';

export function makeTask(id: string, patch: Partial<Task> = {}): Task {
  return {
    id,
    type: 'import',
    owner: 'user_1',
    tags: [],
    parentId: null,
    children: { total: 0, queued: 0, running: 0, completed: 0, failed: 0, canceled: 0 },
    status: 'running',
    attempt: 1,
    maxAttempts: 3,
    progress: { done: 0, total: 100, percent: 0 },
    stage: null,
    stages: [],
    message: null,
    eta: null,
    health: 'ok',
    queue: null,
    input: {},
    result: null,
    error: null,
    metadata: {},
    cancelRequested: false,
    createdAt: '2026-11-23T10:00:00.000Z',
    startedAt: '2026-11-23T10:00:00.000Z',
    updatedAt: '2026-11-23T10:00:00.000Z',
    endedAt: null,
    heartbeatAt: null,
    seq: 0,
    ...patch,
  };
}

interface OpenStream {
  controller: ReadableStreamDefaultController<Uint8Array>;
  after: number;
  closed: boolean;
}

export interface RequestRecord {
  method: string;
  path: string;
  query: URLSearchParams;
  token: string | undefined;
  body: unknown;
  /** Fake-clock time of the request. */
  at: number;
}

const encoder = new TextEncoder();

export class FakeServer {
  events: TaskEvent[] = [];
  tasks = new Map<string, Task>();
  notifications: Notification[] = [];
  head = 0;
  validTokens = new Set<string>(['good']);
  expiredTokens = new Set<string>();
  requests: RequestRecord[] = [];
  streams: OpenStream[] = [];
  /** The stream answers never come (a proxy holding the socket). */
  streamHangs = false;
  /** The stream opens but forwards nothing (a buffering proxy). */
  streamSilent = false;
  /** Every request fails with a network error. */
  down = false;
  /** Status answered to `/v1/stream` instead of a stream. */
  streamStatus = 200;
  /** Events the stream does not forward (but polls see): simulates a push path that loses events. */
  streamDrops = new Set<number>();
  metricsStatus = 404;
  /** While set, reads of `/v1/events` wait for it (to interleave a poll with stream events). */
  eventsGate: Promise<void> | null = null;
  /** The next N reads of `/v1/events` answer 429 with `Retry-After: 7`. */
  eventsRateLimited = 0;

  fetch = async (input: string, init: RequestInit = {}): Promise<Response> => {
    const url = new URL(input);
    const headers = new Headers(init.headers);
    const token = headers.get('authorization')?.replace(/^Bearer /, '');
    const body = typeof init.body === 'string' ? JSON.parse(init.body) : undefined;
    const method = init.method ?? 'GET';
    this.requests.push({ method, path: url.pathname, query: url.searchParams, token, body, at: Date.now() });
    if (this.down) throw new TypeError('fetch failed');
    if (token === undefined || !this.validTokens.has(token)) {
      const code = token !== undefined && this.expiredTokens.has(token) ? 'token_expired' : 'unauthorized';
      return json(401, { error: { code, message: 'no' } });
    }
    const path = url.pathname;
    const q = url.searchParams;
    if (path === '/v1/events' && this.eventsGate) await this.eventsGate;
    if (path === '/v1/events' && this.eventsRateLimited > 0) {
      this.eventsRateLimited--;
      return new Response(JSON.stringify({ error: { code: 'rate_limited', message: 'slow down' } }), {
        status: 429,
        headers: { 'content-type': 'application/json', 'retry-after': '7' },
      });
    }
    if (path === '/v1/events') {
      const after = Number(q.get('after') ?? 0);
      const limit = Number(q.get('limit') ?? 100);
      if (after > this.head) {
        const tasks = [...this.tasks.values()].filter((t) => t.status === 'queued' || t.status === 'running');
        return json(200, { events: [], head: this.head, reset: true, tasks });
      }
      const events = this.events.filter((e) => e.seq > after).slice(0, limit);
      return json(200, { events, head: events.length === limit ? events[limit - 1]!.seq : this.head });
    }
    if (path === '/v1/snapshot') {
      const tasks = [...this.tasks.values()].filter((t) => t.status === 'queued' || t.status === 'running');
      return json(200, { head: this.head, tasks });
    }
    if (path === '/v1/stream') return this.#stream(Number(q.get('after') ?? 0), init.signal ?? undefined);
    if (path === '/v1/tasks' && method === 'GET') {
      const status = q.get('status');
      let tasks = [...this.tasks.values()];
      if (status === 'active') tasks = tasks.filter((t) => t.status === 'queued' || t.status === 'running');
      else if (status) tasks = tasks.filter((t) => status.split(',').includes(t.status));
      if (q.get('tag')) tasks = tasks.filter((t) => t.tags.includes(q.get('tag')!));
      return json(200, { tasks, nextCursor: null });
    }
    const m = /^\/v1\/tasks\/([^/]+)(\/cancel)?$/.exec(path);
    if (m) {
      const task = this.tasks.get(decodeURIComponent(m[1]!));
      if (!task) return json(404, { error: { code: 'not_found', message: 'no such task' } });
      if (m[2]) return json(200, this.update(task.id, { cancelRequested: true }));
      return json(200, task);
    }
    if (path === '/v1/notifications') {
      const unread = q.get('unread') === 'true';
      return json(200, { notifications: this.notifications.filter((n) => !unread || n.readAt === null) });
    }
    if (path === '/v1/notifications/read') {
      const ids: string[] = (body as { ids: string[] }).ids;
      const readAt = new Date().toISOString();
      for (const n of this.notifications) if (ids.includes(n.id) && n.readAt === null) n.readAt = readAt;
      this.#append({ type: 'notification.read', taskId: null, read: { ids, readAt } });
      return json(200, {});
    }
    if (path === '/v1/client-metrics') return json(this.metricsStatus, this.metricsStatus === 404 ? { error: { code: 'not_found', message: 'no' } } : {});
    return json(404, { error: { code: 'not_found', message: 'no route' } });
  };

  /** Creates or changes a task and appends its event. */
  update(id: string, patch: Partial<Task>, type?: TaskEvent['type']): Task {
    const held = this.tasks.get(id);
    const seq = this.head + 1;
    const task = makeTask(id, { ...held, ...patch, seq });
    this.tasks.set(id, task);
    const eventType = type ?? (held ? (task.status === 'completed' ? 'task.completed' : task.status === 'failed' ? 'task.failed' : 'task.updated') : 'task.created');
    this.#append({ type: eventType, taskId: id, task });
    return task;
  }

  /** A terminal state plus the owner's notification, as the server does. */
  finish(id: string, kind: 'completed' | 'failed'): Notification {
    this.update(id, { status: kind, endedAt: new Date().toISOString() });
    const n: Notification = {
      id: `ntf_${id}`,
      seq: this.head + 1,
      owner: 'user_1',
      taskId: id,
      kind,
      title: `${id} ${kind}`,
      body: '',
      createdAt: new Date().toISOString(),
      readAt: null,
    };
    this.notifications.push(n);
    this.#append({ type: 'notification.created', taskId: id, notification: n });
    return n;
  }

  /** An event of another owner: moves the head, visible to nobody here. */
  foreignEvent(): void {
    this.head++;
  }

  heartbeat(): void {
    for (const s of this.streams) this.#write(s, `event: heartbeat\nid: ${this.head}\ndata: ${JSON.stringify({ head: this.head })}\n\n`);
  }

  /** A heartbeat as the real server sends it: with `last`, the seq of the last event it wrote to the stream. */
  heartbeatWithLast(): void {
    const last = this.events.at(-1)?.seq ?? 0;
    for (const s of this.streams) this.#write(s, `event: heartbeat\nid: ${this.head}\ndata: ${JSON.stringify({ head: this.head, last })}\n\n`);
  }

  /** Ends every open stream (server restart, proxy timeout). */
  dropStreams(): void {
    for (const s of this.streams) {
      if (!s.closed) {
        s.closed = true;
        try {
          s.controller.close();
        } catch {
          // already closed by the reader
        }
      }
    }
    this.streams = [];
  }

  get openStreams(): number {
    return this.streams.filter((s) => !s.closed).length;
  }

  count(path: string): number {
    return this.requests.filter((r) => r.path === path).length;
  }

  #append(partial: Omit<TaskEvent, 'seq' | 'at'>): void {
    const event = { ...partial, seq: ++this.head, at: new Date().toISOString() } as TaskEvent;
    this.events.push(event);
    if (this.streamDrops.has(event.seq)) return;
    for (const s of this.streams) if (event.seq > s.after) this.#write(s, frame(event));
  }

  #write(s: OpenStream, text: string): void {
    if (s.closed || this.streamSilent) return;
    try {
      s.controller.enqueue(encoder.encode(text));
    } catch {
      s.closed = true;
    }
  }

  async #stream(after: number, signal: AbortSignal | undefined): Promise<Response> {
    if (this.streamHangs) {
      return new Promise((_, reject) => signal?.addEventListener('abort', () => reject(signal.reason)));
    }
    if (this.streamStatus !== 200) return json(this.streamStatus, { error: { code: 'forbidden', message: 'no' } });
    let stream!: OpenStream;
    const body = new ReadableStream<Uint8Array>({
      start: (controller) => {
        stream = { controller, after, closed: false };
      },
      cancel: () => {
        stream.closed = true;
      },
    });
    this.streams.push(stream);
    signal?.addEventListener('abort', () => {
      stream.closed = true;
      try {
        stream.controller.error(signal.reason);
      } catch {
        // closed
      }
    });
    this.#write(stream, 'retry: 1000\n\n');
    for (const e of this.events) if (e.seq > after && !this.streamDrops.has(e.seq)) this.#write(stream, frame(e));
    return new Response(body, { status: 200, headers: { 'content-type': 'text/event-stream' } });
  }
}

function frame(e: TaskEvent): string {
  return `id: ${e.seq}\nevent: ${e.type}\ndata: ${JSON.stringify(e)}\n\n`;
}

function json(status: number, body: unknown): Response {
  return new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json' } });
}

/** Host stand-ins whose state a test flips. */
export function fakeHost() {
  let hidden = false;
  let online = true;
  const visibilityListeners = new Set<() => void>();
  const networkListeners = new Set<() => void>();
  return {
    visibility: {
      hidden: () => hidden,
      subscribe: (l: () => void) => {
        visibilityListeners.add(l);
        return () => visibilityListeners.delete(l);
      },
    },
    network: {
      online: () => online,
      subscribe: (l: () => void) => {
        networkListeners.add(l);
        return () => networkListeners.delete(l);
      },
    },
    setHidden(value: boolean) {
      hidden = value;
      for (const l of visibilityListeners) l();
    },
    setOnline(value: boolean) {
      online = value;
      for (const l of networkListeners) l();
    },
  };
}
