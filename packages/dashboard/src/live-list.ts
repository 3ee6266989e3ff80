/**
 * One page of tasks from the server (filters, search and paging are server-side), kept live by
 * the client's event stream: an event for a task on the page replaces that row; a new task that
 * matches the filters appears at the top of the first page. Events are applied once per
 * animation frame, so a burst of 1,000 reports costs one render, and the list is never fetched
 * again because of an event.
 */
import type { Task, TaskEvent } from '@taskpulse/protocol';
import type { TaskPulseClient } from '@taskpulse/client';
import { useEffect, useRef, useState } from 'react';
import type { Api, Counts, TaskQuery } from './api.ts';
import { compareTasks } from './sort.ts';

export interface LivePage {
  tasks: Task[];
  nextCursor: string | null;
  loading: boolean;
  error: string | null;
  /** Counts per status for the filters (all statuses, whatever `status` is). */
  counts: Counts | null;
}

/** Whether a task belongs on a page with these filters (for tasks that appear live). */
export function matchesQuery(t: Task, q: TaskQuery): boolean {
  if (q.status) {
    const wanted = new Set(q.status.split(',').flatMap((s) => (s === 'active' ? ['queued', 'running'] : [s])));
    if (!wanted.has(t.status)) return false;
  }
  if (q.type && t.type !== q.type) return false;
  if (q.owner && t.owner !== q.owner) return false;
  if (q.tag && !t.tags.includes(q.tag)) return false;
  if (q.parentId && t.parentId !== q.parentId) return false;
  if (q.createdFrom && t.createdAt < q.createdFrom) return false;
  if (q.q) {
    const needle = q.q.toLowerCase();
    if (t.id !== q.q && t.owner !== q.q && t.type !== q.q && !JSON.stringify(t).toLowerCase().includes(needle)) return false;
  }
  return true;
}

/**
 * Merges a frame's worth of changed tasks into the page (newest seq wins; new matches on top).
 * With `compare` (a sort other than newest first) the page is kept in that order instead: a row
 * whose value changed moves, and a new task goes where the order puts it (or off this page).
 */
export function applyChanges(tasks: Task[], changed: ReadonlyMap<string, Task>, created: readonly Task[], limit: number, compare?: (a: Task, b: Task) => number): Task[] {
  let out = tasks;
  if (changed.size > 0) {
    out = tasks.map((t) => {
      const next = changed.get(t.id);
      return next && next.seq > t.seq ? next : t;
    });
  }
  if (created.length > 0) {
    const have = new Set(out.map((t) => t.id));
    const fresh = created.filter((t) => !have.has(t.id)).reverse();
    if (fresh.length > 0) out = [...fresh, ...out];
  }
  if (compare && out !== tasks) {
    const sorted = [...out].sort(compare);
    // Unchanged order: keep the same array (no re-render of the table for nothing).
    out = sorted.every((t, i) => t === out[i]) ? out : sorted;
  }
  return out.length > limit ? out.slice(0, limit) : out;
}

const COUNTS_EVERY_MS = 1000;

export function useLivePage(client: TaskPulseClient, api: Api, query: TaskQuery, options: { counts: boolean } = { counts: true }): LivePage & { reload(): void } {
  const withCounts = options.counts;
  const [page, setPage] = useState<LivePage>({ tasks: [], nextCursor: null, loading: true, error: null, counts: null });
  const [generation, setGeneration] = useState(0);
  const key = JSON.stringify(query);
  const queryRef = useRef(query);
  queryRef.current = query;

  useEffect(() => {
    const abort = new AbortController();
    const q = queryRef.current;
    setPage((p) => ({ ...p, loading: true, error: null }));
    let counts: Counts | null = null;
    let countsAt = 0;
    let countsTimer: ReturnType<typeof setTimeout> | null = null;
    const loadCounts = () => {
      countsTimer = null;
      if (!withCounts) return;
      countsAt = Date.now();
      api.counts(q, abort.signal).then(
        (r) => {
          counts = r.counts;
          setPage((p) => ({ ...p, counts }));
        },
        () => {},
      );
    };
    // Counts are an aggregate query: refreshed when tasks appear or finish, at most once a second.
    const countsSoon = () => {
      if (countsTimer !== null) return;
      countsTimer = setTimeout(loadCounts, Math.max(0, COUNTS_EVERY_MS - (Date.now() - countsAt)));
    };
    loadCounts();

    const compare = q.sort && (q.sort !== 'created' || q.order === 'asc') ? compareTasks(q.sort, q.order ?? 'desc') : undefined;
    let shown = new Set<string>();
    let ready = false;
    const changed = new Map<string, Task>();
    const created: Task[] = [];
    let frame: number | null = null;
    const flush = () => {
      frame = null;
      if (!ready || (changed.size === 0 && created.length === 0)) return;
      const c = new Map(changed);
      const n = created.splice(0);
      changed.clear();
      setPage((p) => {
        const tasks = applyChanges(p.tasks, c, n, q.limit ?? 50, compare);
        shown = new Set(tasks.map((t) => t.id));
        return tasks === p.tasks ? p : { ...p, tasks };
      });
    };
    const schedule = () => {
      frame ??= requestAnimationFrame(flush);
    };
    // The status of each unfinished task seen: the counts change when one changes (a claim moves a
    // task from queued to running, a retry back), not only when tasks appear or finish.
    const statuses = new Map<string, string>();
    const off = client.onEvent((e: TaskEvent) => {
      const t = e.task;
      if (!t) return;
      const finished = e.type === 'task.completed' || e.type === 'task.failed' || e.type === 'task.canceled';
      if (e.type === 'task.created' || finished || statuses.get(t.id) !== t.status) countsSoon();
      if (finished) statuses.delete(t.id);
      else statuses.set(t.id, t.status);
      if (!ready || shown.has(t.id)) {
        // Before the page arrives every change is kept: the answer may be older than the event.
        const prev = changed.get(t.id);
        if (!prev || prev.seq < t.seq) changed.set(t.id, t);
        schedule();
      } else if (!q.cursor && e.type === 'task.created' && matchesQuery(t, q)) {
        created.push(t);
        schedule();
      }
    });
    api.tasks(q, abort.signal).then(
      (r) => {
        shown = new Set(r.tasks.map((t) => t.id));
        ready = true;
        for (const id of [...changed.keys()]) if (!shown.has(id)) changed.delete(id);
        setPage((p) => ({ ...p, tasks: r.tasks, nextCursor: r.nextCursor, loading: false, error: null }));
        schedule();
      },
      (error: Error) => {
        if (!abort.signal.aborted) setPage((p) => ({ ...p, loading: false, error: error.message }));
      },
    );
    return () => {
      abort.abort();
      off();
      if (frame !== null) cancelAnimationFrame(frame);
      if (countsTimer !== null) clearTimeout(countsTimer);
    };
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [client, api, key, withCounts, generation]);

  return { ...page, reload: () => setGeneration((g) => g + 1) };
}
