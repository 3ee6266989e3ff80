/**
 * The React example: the same page as `vanilla/`, built on `@taskpulse/react` — provider,
 * `useTask`/`useTasks`, `useConnectionState`, `useNotifications` for the completion toast and the
 * inbox, and `useInvalidateOnEvents` keeping a TanStack Query list ("Recently finished") fresh.
 */
import type { Task } from '@taskpulse/client';
import { addNotice, clearMore, dismissNotice, EMPTY_NOTICES, expireNotices, NOTICE_RULES, type NoticeState } from '@taskpulse/client/notices';
import { TaskPulseProvider, useConnectionState, useNotifications, useTask, useTaskPulseClient, useTasks } from '@taskpulse/react';
import { useInvalidateOnEvents } from '@taskpulse/react/query';
import { QueryClient, QueryClientProvider, useQuery } from '@tanstack/react-query';
import { useEffect, useState, useSyncExternalStore } from 'react';
import { clientOptions, type PageConfig } from '../shared/config.ts';
import { CONNECTION_LABELS, formatEta, formatIdTime, formatPercent, formatStage, formatStatus, remainingMs } from '../shared/format.ts';
import { loadLastSeen, newest, saveLastSeen } from '../shared/last-seen.ts';
import { fitNotices, moreText, narrowNotices } from '../shared/notices.ts';

/** The whole page for a resolved configuration. */
export function App({ config }: { config: PageConfig }) {
  const [queryClient] = useState(() => new QueryClient());
  return (
    <QueryClientProvider client={queryClient}>
      <TaskPulseProvider options={clientOptions(config)}>
        <Page taskId={config.taskId} />
      </TaskPulseProvider>
    </QueryClientProvider>
  );
}

function Page({ taskId }: { taskId: string | undefined }) {
  const client = useTaskPulseClient();
  useEffect(() => {
    window.taskpulse = client; // for the console: taskpulse.diagnostics()
  }, [client]);
  // At most 3 notices at once (one on a narrow screen), each gone after a few seconds, the rest counted.
  const [notices, setNotices] = useState(EMPTY_NOTICES);
  const change = (f: (s: NoticeState) => NoticeState) => setNotices((s) => fitNotices(f(s)));
  // Claims completions: once per task, in one tab, not again after a reload.
  useNotifications({
    inbox: false,
    onNotification: (n) => change((s) => addNotice(s, { id: n.id, title: n.title, body: n.body, kind: n.kind, taskId: n.taskId }, Date.now())),
  });
  useEffect(() => {
    if (notices.visible.length === 0) return;
    const due = Math.min(...notices.visible.map((v) => v.shownAt)) + NOTICE_RULES.ttlMs;
    const timer = setTimeout(() => change((s) => expireNotices(s, Date.now())), Math.max(50, due - Date.now()));
    return () => clearTimeout(timer);
  }, [notices.visible]);
  // Turning a wide window narrow folds the notices on screen at once.
  const narrow = useSyncExternalStore(subscribeNarrow, () => narrowNotices?.matches ?? false);
  useEffect(() => {
    if (narrow) change((s) => s);
  }, [narrow]);
  // The app's own queries: refetched when a task of this viewer is created or finishes.
  useInvalidateOnEvents([{ queryKey: ['finished'] }]);
  return (
    <>
      <header>
        <h1>TaskPulse — React</h1>
        <ConnectionBadge />
      </header>
      <section data-testid="tasks">{taskId !== undefined ? <SingleTask id={taskId} /> : <TaskList />}</section>
      <RecentlyFinished />
      <Inbox />
      <Toasts
        notices={notices}
        onDismiss={(id) => change((s) => dismissNotice(s, id))}
        onClearMore={() => change(clearMore)}
      />
    </>
  );
}

function subscribeNarrow(onChange: () => void): () => void {
  narrowNotices?.addEventListener('change', onChange);
  return () => narrowNotices?.removeEventListener('change', onChange);
}

/** The notices on screen; the "N more finished" count sits in the newest one's box. */
function Toasts({ notices, onDismiss, onClearMore }: { notices: NoticeState; onDismiss(id: string): void; onClearMore(): void }) {
  const { visible, more } = notices;
  const summary = more > 0 && (
    <a className="more" href="#inbox" data-testid="more-finished" onClick={onClearMore}>
      {moreText(more, true)}
    </a>
  );
  return (
    <div className="toasts" aria-live="polite">
      {visible.map((n, i) => (
        <div key={n.id} className="toast" role="status" data-testid="completion" data-task-id={n.taskId} data-kind={n.kind}>
          <button aria-label="Dismiss" onClick={() => onDismiss(n.id)}>
            ×
          </button>
          <strong>{n.title}</strong>
          <span className="body">{n.body}</span>
          {i === visible.length - 1 && summary}
        </div>
      ))}
      {visible.length === 0 && summary && (
        <div className="toast" role="status">
          <button aria-label="Dismiss" onClick={onClearMore}>
            ×
          </button>
          {summary}
        </div>
      )}
    </div>
  );
}

function ConnectionBadge() {
  const { state, reason } = useConnectionState();
  return (
    <span className="connection" data-testid="connection" data-state={state} title={`reason: ${reason}`}>
      {CONNECTION_LABELS[state]}
    </span>
  );
}

function SingleTask({ id }: { id: string }) {
  const { task, loading, error } = useTask(id);
  // First paint after F5: where this tab last saw the bar; the server's answer replaces it.
  const [remembered] = useState(() => loadLastSeen(id));
  useEffect(() => {
    if (task !== undefined) saveLastSeen(task);
  }, [task]);
  const shown = newest(task, remembered);
  if (shown === undefined) {
    if (error) return <p className="error" data-testid="error">{error.code === 'not_found' ? `Task ${id} not found.` : `Could not load the task (${error.code}).`}</p>;
    return <p className="empty">{loading ? 'Loading…' : 'No task.'}</p>;
  }
  return <TaskCard task={shown} source={task === undefined ? 'cache' : 'live'} />;
}

function TaskList() {
  const { tasks, loading, error } = useTasks({ limit: 20 });
  if (tasks.length === 0) {
    if (error) return <p className="error" data-testid="error">Could not load tasks ({error.code}).</p>;
    return <p className="empty">{loading ? 'Loading…' : 'No tasks yet.'}</p>;
  }
  return tasks.map((t) => <TaskCard key={t.id} task={t} source="live" />);
}

/** Re-renders every `ms` (the ETA countdown). */
function useNow(ms: number): number {
  const [now, setNow] = useState(() => performance.now());
  useEffect(() => {
    const timer = setInterval(() => setNow(performance.now()), ms);
    return () => clearInterval(timer);
  }, [ms]);
  return now;
}

function TaskCard({ task, source }: { task: Task; source: 'live' | 'cache' }) {
  // When this version of the task arrived, on the page's monotonic clock (ETA countdown).
  const [received, setReceived] = useState(() => ({ task, at: performance.now() }));
  if (received.task !== task) setReceived({ task, at: performance.now() });
  const now = useNow(1000);
  const percent = task.status === 'completed' ? 100 : task.progress.percent;
  return (
    <article className="task" data-testid="task" data-task-id={task.id} data-status={task.status} data-source={source}>
      <h2>
        <span>{task.type}</span>
        <span data-testid="status">{formatStatus(task)}</span>
      </h2>
      <div className="meta" data-testid="id-time" title={task.id}>
        {formatIdTime(task)}
      </div>
      <div
        className="bar"
        role="progressbar"
        aria-valuemin={0}
        aria-valuemax={100}
        aria-valuenow={percent ?? 0}
        data-testid="bar"
        data-percent={percent === null ? '' : String(percent)}
      >
        <div className="fill" style={{ width: `${percent ?? 0}%` }} />
      </div>
      <div className="details">
        <span data-testid="percent">{formatPercent(percent)}</span>
        <span data-testid="stage">{formatStage(task)}</span>
        <span data-testid="message">{task.error?.message ?? task.message ?? ''}</span>
        <span data-testid="eta">{formatEta(remainingMs(task, received.at, Math.max(now, received.at)))}</span>
      </div>
    </article>
  );
}

/** The inbox, display only (no callbacks: the toasts above claim the notifications). */
function Inbox() {
  const { notifications, unreadCount } = useNotifications({ limit: 5 });
  if (notifications.length === 0) return null;
  return (
    <section id="inbox">
      <h2>Inbox ({unreadCount} unread)</h2>
      <ul data-testid="inbox">
        {notifications.map((n) => (
          <li key={n.id} data-task-id={n.taskId} data-read={String(n.readAt !== null)}>
            {n.title}
          </li>
        ))}
      </ul>
    </section>
  );
}

/** An ordinary TanStack query of the app, kept fresh by `useInvalidateOnEvents` above. */
function RecentlyFinished() {
  const client = useTaskPulseClient();
  const { data } = useQuery({
    queryKey: ['finished'],
    queryFn: async () => (await client.listTasks({ status: ['completed', 'failed', 'canceled'], limit: 5 })).tasks,
  });
  if (!data || data.length === 0) return null;
  return (
    <section>
      <h2>Recently finished</h2>
      <ul data-testid="finished">
        {data.map((t) => (
          <li key={t.id} data-task-id={t.id}>
            {t.type}: {t.status}
          </li>
        ))}
      </ul>
    </section>
  );
}
