/** Calls the dashboard makes beside the live client: lists with search and paging, counts, actions, stats. */
import type { TaskSort, ClientHealthSummary, HistoryReport, LogLine, Notification, StatsReport, Task, TaskEvent } from '@taskpulse/protocol';

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

export interface TaskQuery {
  status?: string;
  type?: string;
  owner?: string;
  tag?: string;
  q?: string;
  createdFrom?: string;
  parentId?: string;
  limit?: number;
  cursor?: string;
  /** Server-side sort (absent: newest first). */
  sort?: TaskSort;
  order?: 'asc' | 'desc';
}

export type Counts = Record<'queued' | 'running' | 'completed' | 'failed' | 'canceled', number>;

export type { StageStat, StatsReport as Stats, HistoryReport as History, ClientHealthSummary as ClientHealth } from '@taskpulse/protocol';

export function createApi(token: string, base = '') {
  const call = async <T>(method: 'GET' | 'POST', path: string, query?: Record<string, string | number | undefined>, signal?: AbortSignal): Promise<T> => {
    const qs = new URLSearchParams();
    for (const [k, v] of Object.entries(query ?? {})) if (v !== undefined && v !== '') qs.set(k, String(v));
    const res = await fetch(`${base}${path}${qs.size ? `?${qs}` : ''}`, {
      method,
      headers: { authorization: `Bearer ${token}`, ...(method === 'POST' ? { 'content-type': 'application/json' } : {}) },
      body: method === 'POST' ? '{}' : undefined,
      signal,
    });
    const body = (await res.json().catch(() => null)) as { error?: { code: string; message: string } } | null;
    if (!res.ok) throw new ApiError(res.status, body?.error?.code ?? 'error', body?.error?.message ?? `HTTP ${res.status}`);
    return body as T;
  };
  return {
    tasks: (q: TaskQuery, signal?: AbortSignal) => call<{ tasks: Task[]; nextCursor: string | null }>('GET', '/v1/tasks', { ...q }, signal),
    counts: (q: TaskQuery, signal?: AbortSignal) =>
      call<{ counts: Counts }>('GET', '/v1/tasks/counts', { type: q.type, owner: q.owner, tag: q.tag, q: q.q, createdFrom: q.createdFrom }, signal),
    task: (id: string) => call<Task>('GET', `/v1/tasks/${encodeURIComponent(id)}`),
    logs: (id: string, after = 0) => call<{ logs: LogLine[] }>('GET', `/v1/tasks/${encodeURIComponent(id)}/logs`, { after }),
    events: (taskId: string, after = 0, limit = 200) => call<{ events: TaskEvent[]; head: number }>('GET', '/v1/events', { taskId, after, limit }),
    cancel: (id: string) => call<Task>('POST', `/v1/tasks/${encodeURIComponent(id)}/cancel`),
    retry: (id: string) => call<Task>('POST', `/v1/tasks/${encodeURIComponent(id)}/retry`),
    stats: (type?: string, windowMs?: number) => call<StatsReport>('GET', '/v1/stats', { type, windowMs }),
    history: (windowMs: number) => call<HistoryReport>('GET', '/v1/stats/history', { windowMs }),
    clientHealth: (windowMs: number) => call<ClientHealthSummary>('GET', '/v1/client-metrics', { windowMs }),
    notifications: () => call<{ notifications: Notification[] }>('GET', '/v1/notifications', { limit: 100 }),
  };
}

export type Api = ReturnType<typeof createApi>;
