/**
 * An in-memory stand-in for the TaskPulse worker protocol, as an injected `fetch`. Enough for
 * unit tests of the SDK's behaviour (the integration tests use the real server).
 */
import type { FetchLike } from '../../src/http.ts';

export interface FakeTask {
  id: string;
  type: string;
  owner: string;
  status: 'queued' | 'running' | 'completed' | 'failed' | 'canceled';
  lease: string | null;
  cancelRequested: boolean;
  attempt: number;
  done: number | null;
  total: number | null;
  message: string | null;
  stage: string | null;
  metadata: Record<string, unknown>;
  logs: string[];
  result: unknown;
  error: unknown;
  /** Every update applied, in order. */
  applied: Array<Record<string, unknown>>;
  parentId: string | null;
}

export interface RecordedRequest {
  method: string;
  path: string;
  body: any;
}

export class FakeServer {
  readonly tasks = new Map<string, FakeTask>();
  readonly requests: RecordedRequest[] = [];
  #next = 1;
  #claimWaiters: Array<() => void> = [];
  /** Return a response to short-circuit a request (fault injection). */
  intercept: ((req: RecordedRequest) => { status: number; body?: unknown; headers?: Record<string, string> } | 'network' | undefined) | null = null;

  add(type = 'job', owner = 'u1'): FakeTask {
    const id = `tsk_${this.#next++}`;
    const task: FakeTask = { id, type, owner, status: 'queued', lease: null, cancelRequested: false, attempt: 0, done: null, total: null, message: null, stage: null, metadata: {}, logs: [], result: null, error: null, applied: [], parentId: null };
    this.tasks.set(id, task);
    for (const wake of this.#claimWaiters.splice(0)) wake();
    return task;
  }

  count(path: string | RegExp): number {
    return this.requests.filter((r) => (typeof path === 'string' ? r.path === path : path.test(r.path))).length;
  }

  fetch: FetchLike = async (input, init) => {
    const url = new URL(input);
    const req: RecordedRequest = { method: init.method, path: url.pathname, body: init.body ? JSON.parse(init.body) : undefined };
    this.requests.push(req);
    const injected = this.intercept?.(req);
    if (injected === 'network') throw new TypeError('fetch failed');
    if (injected) return reply(injected.status, injected.body, injected.headers);
    const { status, body } = await this.#handle(req, init.signal);
    return reply(status, body);
  };

  async #handle(req: RecordedRequest, signal?: AbortSignal): Promise<{ status: number; body?: unknown }> {
    const b = req.body ?? {};
    if (req.path === '/v1/tasks/claim') {
      for (;;) {
        const task = [...this.tasks.values()].find((t) => t.status === 'queued' && (!b.types || b.types.includes(t.type)));
        if (task) {
          task.status = 'running';
          task.attempt++;
          task.lease = `lease_${task.id}_${task.attempt}`;
          return { status: 200, body: { task: this.view(task), lease: { token: task.lease, expiresAt: new Date(Date.now() + 30_000).toISOString() } } };
        }
        if (signal?.aborted) throw signal.reason;
        // Long poll: wait for a new task, the abort, or `waitMs` (then 204).
        let timedOut = false;
        await new Promise<void>((resolve) => {
          this.#claimWaiters.push(resolve);
          signal?.addEventListener('abort', () => resolve(), { once: true });
          setTimeout(() => {
            timedOut = true;
            resolve();
          }, b.waitMs ?? 0);
        });
        if (signal?.aborted) throw signal.reason;
        if (timedOut) return { status: 204 };
      }
    }
    if (req.path === '/v1/tasks' && req.method === 'POST') {
      const task = this.add(b.type, b.owner);
      task.parentId = b.parentId ?? null;
      if (b.start) {
        task.status = 'running';
        task.attempt = 1;
        task.lease = `lease_${task.id}_1`;
        return { status: 201, body: { task: this.view(task), lease: { token: task.lease, expiresAt: new Date().toISOString() } } };
      }
      return { status: 201, body: this.view(task) };
    }
    if (req.path === '/v1/progress') {
      return { status: 200, body: { results: b.updates.map((u: any) => this.#apply(u.id, u)) } };
    }
    const m = /^\/v1\/tasks\/([^/]+)\/(progress|heartbeat|complete|fail)$/.exec(req.path);
    if (m) {
      const task = this.tasks.get(m[1]!);
      if (!task) return err(404, 'not_found');
      if (task.status !== 'running') return err(409, 'task_finished');
      if (task.lease !== b.lease) return err(409, 'lease_lost');
      if (m[2] === 'heartbeat') return { status: 200, body: { cancelRequested: task.cancelRequested, lease: { expiresAt: '' } } };
      if (m[2] === 'complete') {
        task.status = 'completed';
        task.result = b.result ?? null;
        return { status: 200, body: this.view(task) };
      }
      if (m[2] === 'fail') {
        task.error = b.error;
        task.status = b.error?.code === 'canceled' ? 'canceled' : b.retry ? 'queued' : 'failed';
        task.lease = null;
        return { status: 200, body: this.view(task) };
      }
      const r = this.#apply(task.id, b);
      return r.ok ? { status: 200, body: r } : err(409, (r as any).error.code);
    }
    return err(404, 'not_found');
  }

  #apply(id: string, u: any) {
    const task = this.tasks.get(id);
    if (!task) return { id, ok: false, error: { code: 'not_found', message: 'no such task' } };
    if (task.status !== 'running') return { id, ok: false, error: { code: 'task_finished', message: 'finished' } };
    if (task.lease !== u.lease) return { id, ok: false, error: { code: 'lease_lost', message: 'lost' } };
    const { lease: _lease, id: _id, leaseMs: _ms, ...fields } = u;
    task.applied.push(fields);
    if (u.stage !== undefined) task.stage = u.stage;
    if (u.done !== undefined) task.done = u.done;
    if (u.total !== undefined) task.total = u.total;
    if (u.message !== undefined) task.message = u.message;
    if (u.metadata !== undefined) task.metadata = u.metadata;
    if (u.log !== undefined) task.logs.push(typeof u.log === 'string' ? u.log : `${u.log.level}:${u.log.message}`);
    return { id, ok: true, seq: 1, cancelRequested: task.cancelRequested, lease: { expiresAt: '' } };
  }

  view(task: FakeTask) {
    return { id: task.id, type: task.type, owner: task.owner, status: task.status, attempt: task.attempt, metadata: task.metadata, parentId: task.parentId } as any;
  }
}

function reply(status: number, body?: unknown, headers: Record<string, string> = {}) {
  const h = new Map(Object.entries(headers).map(([k, v]) => [k.toLowerCase(), v]));
  return { status, headers: { get: (name: string) => h.get(name.toLowerCase()) ?? null }, text: async () => (body === undefined ? '' : JSON.stringify(body)) };
}

function err(status: number, code: string) {
  return { status, body: { error: { code, message: code } } };
}

/** A logger that keeps what it is told (and prints nothing). */
export function memoryLogger() {
  const lines: string[] = [];
  const at = (level: string) => (message: string, details?: Record<string, unknown>) => void lines.push(`${level} ${message} ${details ? JSON.stringify(details) : ''}`);
  return { lines, logger: { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') } };
}

