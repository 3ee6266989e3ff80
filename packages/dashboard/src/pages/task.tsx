/** One task: header, stage waterfall, live log, JSON, attempts, children, events, actions. */
import type { LogLine, Task, TaskEvent } from '@taskpulse/protocol';
import { useQuery } from '@tanstack/react-query';
import { useTask, useTaskPulseClient } from '@taskpulse/react';
import { type ReactNode, useEffect, useMemo, useRef, useState } from 'react';
import { ApiError, type Api, type StageStat } from '../api.ts';
import { ConfirmDialog, CopyId, Empty, HealthBadge, ProgressBar, StatusBadge, TableHead, useNow } from '../components.tsx';
import { JsonView } from '../components/json-view.tsx';
import { ago, duration, eta, percentText, runTime, shortId, stageText, startsIn } from '../format.ts';
import { useLivePage } from '../live-list.ts';
import { Link } from '../router.tsx';

export function TaskPage({ id, api, staff }: { id: string; api: Api; staff: boolean }) {
  const { task, loading, error } = useTask(id);
  const now = useNow();
  if (loading && !task) return <p className="subtle">Loading {id}…</p>;
  if (!task) {
    return (
      <Empty title={error?.code === 'not_found' ? 'No such task' : 'Could not load the task'}>
        <p className="subtle">
          {error?.code === 'not_found' ? `There is no task ${id} that you may see.` : (error?.message ?? '')} <Link to="/">Back to the tasks</Link>
        </p>
      </Empty>
    );
  }
  return <TaskDetail task={task} api={api} staff={staff} now={now} />;
}

function TaskDetail({ task, api, staff, now }: { task: Task; api: Api; staff: boolean; now: number }) {
  const e = eta(task, now);
  // The usual duration of each stage of this type, from the history in the store (staff only).
  const stats = useQuery({ queryKey: ['stats', 'type', task.type], queryFn: () => api.stats(task.type), enabled: staff, staleTime: 60_000 });
  const usual = useMemo(
    () => (stats.data ? new Map((stats.data.types.find((x) => x.type === task.type)?.stages ?? []).map((st): [string, StageStat] => [st.stage, st])) : null),
    [stats.data, task.type],
  );
  return (
    <article className="task-page" aria-labelledby="task-title" data-testid="task-page" data-status={task.status}>
      <nav className="crumbs" aria-label="Breadcrumb">
        <Link to="/">Tasks</Link>
        {task.parentId && (
          <>
            {' / '}
            <Link to={`/tasks/${encodeURIComponent(task.parentId)}`} data-testid="parent-link">
              parent {shortId(task.parentId)}
            </Link>
          </>
        )}
        {' / '}
        <span aria-current="page">{shortId(task.id)}</span>
      </nav>
      <header className="task-head">
        <div>
          <h1 id="task-title">
            {task.type} <StatusBadge status={task.status} cancelRequested={task.cancelRequested} />
          </h1>
          <p className="subtle">
            <CopyId id={task.id} />
            {staff && <> · owner <strong className="nowrap">{task.owner}</strong></>}
            {task.tags.length > 0 && <> · {task.tags.map((t) => <span key={t} className="tag">{t}</span>)}</>}
          </p>
        </div>
        <Actions task={task} api={api} staff={staff} />
      </header>
      <section className="card summary" aria-label="Progress">
        <ProgressBar task={task} large />
        <div className="summary-grid">
          <Fact label="Stage" value={stageText(task)} />
          <Fact label="Message" value={task.message ?? '—'} />
          <Fact label="ETA" value={e ? e.text : task.status === 'queued' && task.queue ? `#${task.queue.position} in queue${task.queue.estimatedWaitMs ? `, ${startsIn(task.queue.estimatedWaitMs)}` : ''}` : '—'} hint={e ? [e.band, e.why].filter(Boolean).join(' ') || undefined : undefined} />
          <Fact label="Health" value={<HealthBadge health={task.health} />} />
          <Fact label="Attempt" value={`${task.attempt} of ${task.maxAttempts}`} />
          <Fact label="Created" value={ago(task.createdAt, now)} hint={task.createdAt} />
          <Fact label="Ran for" value={duration(runTime(task, now))} />
          <Fact label="Children" value={task.children.total ? `${task.children.completed}/${task.children.total} done${task.children.failed ? `, ${task.children.failed} failed` : ''}` : '—'} />
        </div>
      </section>
      <div className="task-grid">
        <section className="card" aria-labelledby="stages-title">
          <h2 id="stages-title">Stages</h2>
          <Waterfall task={task} now={now} usual={usual} />
        </section>
        <section className="card log-card" aria-labelledby="log-title">
          <h2 id="log-title">Log</h2>
          <LiveLog taskId={task.id} api={api} />
        </section>
      </div>
      {task.error && (
        <section className="card" aria-labelledby="error-title">
          <h2 id="error-title">Error</h2>
          <p className="error-text">
            <code>{task.error.code}</code> {task.error.message}
          </p>
          {task.error.details && <JsonView value={task.error.details} label="error" />}
        </section>
      )}
      <div className="task-grid">
        <section className="card" aria-labelledby="result-title">
          <h2 id="result-title">Result</h2>
          <JsonView value={task.result} label="result" />
        </section>
        <section className="card" aria-labelledby="input-title">
          <h2 id="input-title">Input</h2>
          <JsonView value={task.input} label="input" />
          {Object.keys(task.metadata).length > 0 && (
            <>
              <h3>Metadata</h3>
              <JsonView value={task.metadata} label="metadata" />
            </>
          )}
        </section>
      </div>
      <Attempts task={task} />
      {task.children.total > 0 && <Children task={task} api={api} now={now} />}
      <Events taskId={task.id} api={api} />
    </article>
  );
}

function Fact({ label, value, hint }: { label: string; value: ReactNode; hint?: string }) {
  return (
    <div className="fact" title={hint}>
      <div className="fact-label">{label}</div>
      <div className="fact-value">{value}</div>
    </div>
  );
}

function Actions({ task, api, staff }: { task: Task; api: Api; staff: boolean }) {
  const [confirm, setConfirm] = useState<'cancel' | 'retry' | null>(null);
  const [message, setMessage] = useState<string | null>(null);
  const act = async (what: 'cancel' | 'retry') => {
    setConfirm(null);
    try {
      await (what === 'cancel' ? api.cancel(task.id) : api.retry(task.id));
      setMessage(what === 'cancel' ? (task.status === 'running' ? 'Cancellation requested: the worker stops at its next report.' : 'Canceled.') : 'Queued again as a new attempt.');
    } catch (error) {
      setMessage(error instanceof ApiError ? error.message : String(error));
    }
  };
  const canCancel = (task.status === 'queued' || task.status === 'running') && !task.cancelRequested;
  const canRetry = staff && (task.status === 'failed' || task.status === 'canceled');
  return (
    <div className="actions">
      {canCancel && (
        <button type="button" className="button danger" onClick={() => setConfirm('cancel')} data-testid="cancel">
          Cancel task
        </button>
      )}
      {canRetry && (
        <button type="button" className="button primary" onClick={() => setConfirm('retry')} data-testid="retry">
          Retry
        </button>
      )}
      {message && (
        <span className="subtle" role="status">
          {message}
        </span>
      )}
      <ConfirmDialog
        open={confirm !== null}
        title={confirm === 'cancel' ? 'Cancel this task?' : 'Retry this task?'}
        confirm={confirm === 'cancel' ? 'Cancel task' : 'Retry'}
        danger={confirm === 'cancel'}
        onConfirm={() => void act(confirm!)}
        onClose={() => setConfirm(null)}
      >
        <p>{confirm === 'cancel' ? 'A queued task stops at once; a running one is asked to stop at its next report.' : 'It is queued again as a new attempt; this attempt stays in its history.'}</p>
      </ConfirmDialog>
    </div>
  );
}

/** Each stage's start and duration on one time axis, with the usual duration from history beside it. */
function Waterfall({ task, now, usual }: { task: Task; now: number; usual: Map<string, StageStat> | null }) {
  if (task.stages.length === 0) return <p className="muted">This task has no stages; its progress is one bar.</p>;
  const t0 = Math.min(...task.stages.filter((s) => s.startedAt).map((s) => Date.parse(s.startedAt!)), task.startedAt ? Date.parse(task.startedAt) : now);
  const end = (s: Task['stages'][number]) => (s.endedAt ? Date.parse(s.endedAt) : s.status === 'running' ? now : null);
  const spans = task.stages.map((s) => {
    const a = s.startedAt ? Date.parse(s.startedAt) : null;
    const b = end(s);
    return { s, a, b, u: usual?.get(s.key) };
  });
  const total = Math.max(1, ...spans.map((x) => (x.b ?? x.a ?? t0) - t0), ...spans.map((x) => (x.a !== null ? x.a - t0 : 0) + (x.u?.medianMs ?? 0)));
  return (
    <ol className="waterfall" data-testid="stages">
      {spans.map(({ s, a, b, u }) => {
        const left = a === null ? 0 : ((a - t0) / total) * 100;
        const width = a === null || b === null ? 0 : Math.max(0.8, ((b - a) / total) * 100);
        const usualW = u ? Math.max(0.8, (u.medianMs / total) * 100) : 0;
        return (
          <li key={s.key} className={`wf-row stage-${s.status}`} data-testid="stage-row" data-stage={s.key} data-stage-status={s.status}>
            <div className="wf-label">
              <span className="wf-name">{s.label}</span>
              <span className="wf-meta">
                {s.status === 'pending' ? 'pending' : s.status === 'skipped' ? 'skipped' : a !== null && b !== null ? duration(b - a) : s.status}
                {u && <> · usually {duration(u.medianMs)} (p90 {duration(u.p90Ms)})</>}
              </span>
            </div>
            <div className="wf-track" aria-hidden="true">
              {u && a !== null && <div className="wf-usual" style={{ left: `${left}%`, width: `${usualW}%` }} />}
              {width > 0 && <div className={`wf-bar wf-${s.status}`} style={{ left: `${left}%`, width: `${width}%` }} />}
            </div>
          </li>
        );
      })}
    </ol>
  );
}

/** The log, loaded then tailed live from the event stream (appended once per frame). */
function LiveLog({ taskId, api }: { taskId: string; api: Api }) {
  const client = useTaskPulseClient();
  const [lines, setLines] = useState<LogLine[]>([]);
  const [follow, setFollow] = useState(true);
  const box = useRef<HTMLDivElement>(null);
  useEffect(() => {
    let last = 0;
    let loaded = false;
    const early: LogLine[] = [];
    let frame: number | null = null;
    const pending: LogLine[] = [];
    const flush = () => {
      frame = null;
      const add: LogLine[] = [];
      for (const l of pending.splice(0).sort((a, b) => a.seq - b.seq)) {
        if (l.seq <= last) continue; // already shown (a line may come from the load and the stream)
        add.push(l);
        last = l.seq;
      }
      if (add.length === 0) return;
      setLines((prev) => [...prev, ...add].slice(-2000));
    };
    let stopped = false;
    const off = client.onEvent((e: TaskEvent) => {
      if (e.type !== 'task.log' || e.taskId !== taskId || !e.log) return;
      if (!loaded) early.push(e.log);
      else {
        pending.push(e.log);
        frame ??= requestAnimationFrame(flush);
      }
    });
    api.logs(taskId).then(
      (r) => {
        if (stopped) return;
        loaded = true;
        pending.push(...r.logs, ...early.filter((l) => !r.logs.some((x) => x.seq === l.seq)));
        pending.sort((a, b) => a.seq - b.seq);
        flush();
      },
      () => {
        loaded = true;
      },
    );
    return () => {
      stopped = true;
      off();
      if (frame !== null) cancelAnimationFrame(frame);
    };
  }, [client, api, taskId]);
  useEffect(() => {
    if (follow && box.current) box.current.scrollTop = box.current.scrollHeight;
  }, [lines, follow]);
  return (
    <>
      <div className="log-tools">
        <label className="check">
          <input type="checkbox" checked={follow} onChange={(e) => setFollow(e.target.checked)} /> Follow
        </label>
        <span className="subtle small" data-testid="log-count">
          {lines.length} {lines.length === 1 ? 'line' : 'lines'}
        </span>
      </div>
      <div className="log" ref={box} tabIndex={0} role="log" aria-label="Task log" data-testid="log">
        {lines.length === 0 ? (
          <p className="muted">No log lines yet.</p>
        ) : (
          lines.map((l) => (
            <div key={l.seq} className={`log-line level-${l.level}`} data-testid="log-line">
              <time dateTime={l.at}>{l.at.slice(11, 23)}</time>
              <span className="level">{l.level}</span>
              <span className="log-msg">{l.message}</span>
            </div>
          ))
        )}
      </div>
    </>
  );
}

function Attempts({ task }: { task: Task }) {
  const past = task.attempts ?? [];
  if (past.length === 0 && task.attempt <= 1) return null;
  return (
    <section className="card" aria-labelledby="attempts-title">
      <h2 id="attempts-title">Attempts</h2>
      <table className="plain" data-testid="attempts">
        <TableHead columns={['#', 'Outcome', 'Started', 'Took', 'Error']} />
        <tbody>
          {past.map((a, i) => (
            <tr key={`${a.attempt}-${i}`}>
              <td>{a.attempt}</td>
              <td>
                <StatusBadge status={a.status} />
              </td>
              <td>{a.startedAt ? a.startedAt.replace('T', ' ').slice(0, 19) : '—'}</td>
              <td>{a.startedAt && a.endedAt ? duration(Date.parse(a.endedAt) - Date.parse(a.startedAt)) : '—'}</td>
              <td className="error-text">{a.error ? `${a.error.code}: ${a.error.message}` : ''}</td>
            </tr>
          ))}
          <tr className="current">
            <td>{task.attempt || '—'}</td>
            <td>
              <StatusBadge status={task.status} /> <span className="subtle small">current</span>
            </td>
            <td>{task.startedAt ? task.startedAt.replace('T', ' ').slice(0, 19) : '—'}</td>
            <td />
            <td className="error-text">{task.error ? `${task.error.code}: ${task.error.message}` : ''}</td>
          </tr>
        </tbody>
      </table>
    </section>
  );
}

function Children({ task, api, now }: { task: Task; api: Api; now: number }) {
  const client = useTaskPulseClient();
  const page = useLivePage(client, api, { parentId: task.id, limit: 100 }, { counts: false });
  return (
    <section className="card" aria-labelledby="children-title">
      <h2 id="children-title">
        Children <span className="subtle">({task.children.completed}/{task.children.total} done)</span>
      </h2>
      <ul className="children" data-testid="children">
        {page.tasks.map((c) => (
          <li key={c.id}>
            <Link to={`/tasks/${encodeURIComponent(c.id)}`}>{shortId(c.id)}</Link>
            <StatusBadge status={c.status} />
            <ProgressBar task={c} />
            <span className="subtle small">{c.message ?? (c.endedAt ? ago(c.endedAt, now) : '')}</span>
          </li>
        ))}
      </ul>
      {page.nextCursor && <p className="subtle small">Showing the newest 100.</p>}
    </section>
  );
}

function eventSummary(e: TaskEvent): string {
  if (e.log) return `${e.log.level}: ${e.log.message}`;
  const t = e.task;
  if (!t) return '';
  if (e.type === 'task.failed' || e.type === 'task.canceled') return t.error ? `${t.error.code}: ${t.error.message}` : t.status;
  return [t.status, percentText(t.progress.percent), t.stage ? t.stage.label : null, t.message].filter(Boolean).join(' · ');
}

/** The task's own events, newest first, live. */
function Events({ taskId, api }: { taskId: string; api: Api }) {
  const client = useTaskPulseClient();
  const [events, setEvents] = useState<TaskEvent[]>([]);
  const [open, setOpen] = useState(false);
  useEffect(() => {
    let frame: number | null = null;
    const pending: TaskEvent[] = [];
    const flush = () => {
      frame = null;
      const add = pending.splice(0);
      setEvents((prev) => {
        const bySeq = new Map(prev.map((x) => [x.seq, x]));
        for (const x of add) bySeq.set(x.seq, x);
        return [...bySeq.values()].sort((a, b) => b.seq - a.seq).slice(0, 500);
      });
    };
    const off = client.onEvent((e) => {
      if (e.taskId !== taskId) return;
      pending.push(e);
      frame ??= requestAnimationFrame(flush);
    });
    let stopped = false;
    api.events(taskId).then((r) => {
      if (stopped) return;
      pending.unshift(...r.events);
      frame ??= requestAnimationFrame(flush);
    }, () => {});
    return () => {
      stopped = true;
      off();
      if (frame !== null) cancelAnimationFrame(frame);
    };
  }, [client, api, taskId]);
  const shown = useMemo(() => (open ? events : events.slice(0, 8)), [events, open]);
  return (
    <section className="card" aria-labelledby="events-title">
      <h2 id="events-title">
        Events <span className="subtle">({events.length})</span>
      </h2>
      <table className="plain events" data-testid="events">
        <TableHead columns={['Seq', 'Event', 'At', 'What']} />
        <tbody>
          {shown.map((e) => (
            <tr key={e.seq}>
              <td>{e.seq}</td>
              <td>
                <code>{e.type}</code>
              </td>
              <td>{e.at.slice(11, 23)}</td>
              <td className="ellipsis">{eventSummary(e)}</td>
            </tr>
          ))}
        </tbody>
      </table>
      {events.length > 8 && (
        <button type="button" className="link-button" onClick={() => setOpen(!open)}>
          {open ? 'Show fewer' : `Show all ${events.length}`}
        </button>
      )}
    </section>
  );
}
