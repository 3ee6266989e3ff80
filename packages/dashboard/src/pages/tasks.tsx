/** The live task table: filters, search and paging in the URL, sortable columns, bulk actions. */
import type { Task } from '@taskpulse/protocol';
import { useTaskPulseClient } from '@taskpulse/react';
import { type KeyboardEvent, memo, useEffect, useMemo, useRef, useState } from 'react';
import type { Api, Counts, TaskQuery } from '../api.ts';
import { type BulkAction, bulkStatus, matchingIds, runBulk } from '../bulk.ts';
import { ConfirmDialog, CopyId, Empty, HealthBadge, ProgressBar, StatusBadge, useNow } from '../components.tsx';
import { ago, duration, eta, rowMessage, runTime, shortId, stageText, startsIn } from '../format.ts';
import { useLivePage } from '../live-list.ts';
import { sortFromParams, type TaskSort } from '../sort.ts';
import { Link, navigate, useLocation } from '../router.tsx';

const STATUSES = ['queued', 'running', 'completed', 'failed', 'canceled'] as const;
const RANGES: Record<string, { label: string; ms: number }> = {
  '15m': { label: 'Last 15 min', ms: 15 * 60_000 },
  '1h': { label: 'Last hour', ms: 3_600_000 },
  '24h': { label: 'Last 24 h', ms: 86_400_000 },
  '7d': { label: 'Last 7 days', ms: 7 * 86_400_000 },
};
const PAGE_SIZE = 50;

type SortKey = TaskSort;

export function TasksPage({ api, staff }: { api: Api; staff: boolean }) {
  const client = useTaskPulseClient();
  const { params } = useLocation();
  const now = useNow();
  const range = params.get('range') ?? '';
  // The range's start is fixed when the filter is chosen (in the URL as `range`), per page load.
  const rangeStart = useMemo(() => (RANGES[range] ? new Date(Date.now() - RANGES[range]!.ms).toISOString() : undefined), [range]);
  // Sorted by the server over the whole list (not within the page): `sort` and `dir` in the URL.
  const { key: sort, order } = sortFromParams(params);
  const dir = order === 'asc' ? 1 : -1;
  const query: TaskQuery = {
    status: params.get('status') ?? undefined,
    type: params.get('type') ?? undefined,
    owner: staff ? (params.get('owner') ?? undefined) : undefined,
    tag: params.get('tag') ?? undefined,
    q: params.get('q') ?? undefined,
    createdFrom: rangeStart,
    cursor: params.get('cursor') ?? undefined,
    limit: PAGE_SIZE,
    ...(sort !== 'created' || order !== 'desc' ? { sort, order } : {}),
  };
  const page = useLivePage(client, api, query);
  const rows = page.tasks;

  const setParam = (changes: Record<string, string | null>, replace = false) => {
    const next = new URLSearchParams(params);
    for (const [k, v] of Object.entries(changes)) {
      if (v === null || v === '') next.delete(k);
      else next.set(k, v);
    }
    if (!('cursor' in changes)) next.delete('cursor');
    const qs = next.toString();
    navigate(`/${qs ? `?${qs}` : ''}`, { replace });
  };

  const [selected, setSelected] = useState<Set<string>>(new Set());
  useEffect(() => setSelected(new Set()), [JSON.stringify(query)]);

  return (
    <section aria-labelledby="tasks-title">
      <div className="page-head">
        <h1 id="tasks-title">{staff ? 'Tasks' : 'Your tasks'}</h1>
        <p className="subtle">Live: every change is pushed the moment a worker reports it.</p>
      </div>
      <Filters query={query} range={range} counts={page.counts} staff={staff} setParam={setParam} />
      {staff && <BulkBar api={api} query={query} selected={selected} counts={page.counts} onDone={() => setSelected(new Set())} />}
      {page.error ? (
        <div className="alert" role="alert">
          Could not load tasks: {page.error}
        </div>
      ) : null}
      <TaskTable
        rows={rows}
        now={now}
        staff={staff}
        loading={page.loading}
        sort={sort}
        dir={dir}
        onSort={(k) => setParam({ sort: k === 'created' && sort === 'created' && dir === 1 ? null : k, dir: sort === k && dir === -1 ? 'asc' : null }, true)}
        selected={selected}
        setSelected={setSelected}
      />
      <div className="pager">
        <span className="subtle">
          {page.loading ? 'Loading…' : `${page.tasks.length} shown${page.nextCursor ? ', more below' : ''}`}
        </span>
        <div className="pager-buttons">
          {query.cursor && (
            <button type="button" className="button" onClick={() => setParam({ cursor: null })}>
              ← First page
            </button>
          )}
          {page.nextCursor && (
            <button type="button" className="button" onClick={() => setParam({ cursor: page.nextCursor })}>
              Next page →
            </button>
          )}
        </div>
      </div>
    </section>
  );
}

function Filters(props: { query: TaskQuery; range: string; counts: Counts | null; staff: boolean; setParam(c: Record<string, string | null>, replace?: boolean): void }) {
  const { query, counts, setParam } = props;
  const [text, setText] = useState(query.q ?? '');
  const search = useRef<HTMLInputElement>(null);
  useEffect(() => setText(query.q ?? ''), [query.q]);
  useEffect(() => {
    // `/` focuses the search box from anywhere but a text field.
    const onKey = (e: globalThis.KeyboardEvent) => {
      const el = e.target as HTMLElement | null;
      if (e.key !== '/' || e.ctrlKey || e.metaKey || e.altKey) return;
      if (el && (el.isContentEditable || ['INPUT', 'TEXTAREA', 'SELECT'].includes(el.tagName))) return;
      e.preventDefault();
      search.current?.focus();
    };
    document.addEventListener('keydown', onKey);
    return () => document.removeEventListener('keydown', onKey);
  }, []);
  useEffect(() => {
    if ((query.q ?? '') === text.trim()) return;
    const t = setTimeout(() => setParam({ q: text.trim() || null }, true), 350);
    return () => clearTimeout(t);
  }, [text]);
  const total = counts ? Object.values(counts).reduce((a, b) => a + b, 0) : null;
  const status = query.status ?? '';
  // On a phone the field filters fold behind one button (the table starts on the first screen);
  // they start unfolded when one is in use.
  const active = [query.type, props.staff ? query.owner : undefined, query.tag, props.range].filter(Boolean).length;
  const [unfolded, setUnfolded] = useState(active > 0);
  return (
    <div className="filters">
      <form
        className="search"
        role="search"
        onSubmit={(e) => {
          e.preventDefault();
          setParam({ q: text.trim() || null });
        }}
      >
        <label htmlFor="search" className="sr-only">
          Search tasks
        </label>
        <input
          id="search"
          ref={search}
          type="search"
          role="searchbox"
          placeholder={props.staff ? 'Search id, owner, type, tag or any text…' : 'Search id, type or any text…'}
          value={text}
          onChange={(e) => setText(e.target.value)}
          autoComplete="off"
          spellCheck={false}
        />
        <kbd aria-hidden="true">/</kbd>
      </form>
      <div className="status-tabs" role="group" aria-label="Status">
        <button type="button" className="chip" aria-pressed={status === ''} onClick={() => setParam({ status: null })}>
          All <span className="count">{total ?? '…'}</span>
        </button>
        {STATUSES.map((s) => (
          <button key={s} type="button" className={`chip chip-${s}`} aria-pressed={status === s} onClick={() => setParam({ status: status === s ? null : s })} data-testid={`filter-${s}`}>
            {s} <span className="count">{counts ? counts[s] : '…'}</span>
          </button>
        ))}
      </div>
      <button type="button" className="chip filters-toggle" aria-expanded={unfolded} aria-controls="filter-fields" onClick={() => setUnfolded(!unfolded)}>
        Filters{active > 0 ? ` (${active})` : ''} {unfolded ? '▴' : '▾'}
      </button>
      <div className={`filter-fields${unfolded ? ' unfolded' : ''}`} id="filter-fields">
        <TextFilter label="Type" value={query.type} onChange={(v) => setParam({ type: v })} />
        {props.staff && <TextFilter label="Owner" value={query.owner} onChange={(v) => setParam({ owner: v })} />}
        <TextFilter label="Tag" value={query.tag} onChange={(v) => setParam({ tag: v })} />
        <label className="field">
          <span>Created</span>
          <select value={props.range} onChange={(e) => setParam({ range: e.target.value || null })}>
            <option value="">Any time</option>
            {Object.entries(RANGES).map(([k, r]) => (
              <option key={k} value={k}>
                {r.label}
              </option>
            ))}
          </select>
        </label>
        {(query.type || query.owner || query.tag || props.range || query.q || query.status) && (
          <button type="button" className="link-button" onClick={() => navigate('/')}>
            Clear filters
          </button>
        )}
      </div>
    </div>
  );
}

function TextFilter({ label, value, onChange }: { label: string; value: string | undefined; onChange(v: string | null): void }) {
  const [text, setText] = useState(value ?? '');
  useEffect(() => setText(value ?? ''), [value]);
  const commit = () => {
    if (text.trim() !== (value ?? '')) onChange(text.trim() || null);
  };
  return (
    <label className="field">
      <span>{label}</span>
      <input value={text} onChange={(e) => setText(e.target.value)} onBlur={commit} onKeyDown={(e) => e.key === 'Enter' && commit()} placeholder="any" spellCheck={false} />
    </label>
  );
}

function BulkBar({ api, query, selected, counts, onDone }: { api: Api; query: TaskQuery; selected: Set<string>; counts: Counts | null; onDone(): void }) {
  const [pending, setPending] = useState<{ action: BulkAction; scope: 'selection' | 'all' } | null>(null);
  const [progress, setProgress] = useState<string | null>(null);
  const matching = (action: BulkAction) => {
    const s = bulkStatus(action, query.status);
    if (s === null || !counts) return 0;
    return s.split(',').reduce((a, k) => a + (counts[k as keyof Counts] ?? 0), 0);
  };
  const run = async () => {
    if (!pending) return;
    const { action, scope } = pending;
    setPending(null);
    const verb = action === 'cancel' ? 'Canceling' : 'Retrying';
    setProgress(`${verb}: finding tasks…`);
    try {
      const ids = scope === 'selection' ? [...selected] : await matchingIds(api, action, query);
      const r = await runBulk(api, action, ids, (n) => setProgress(`${verb} ${n}/${ids.length}…`));
      setProgress(`${action === 'cancel' ? 'Canceled' : 'Retried'} ${r.ok} task${r.ok === 1 ? '' : 's'}${r.skipped ? `, ${r.skipped} skipped (already moved on)` : ''}${r.failed ? `, ${r.failed} failed` : ''}.`);
      onDone();
    } catch (error) {
      setProgress(`Stopped: ${(error as Error).message}`);
    }
  };
  const n = selected.size;
  const label = pending ? `${pending.action === 'cancel' ? 'Cancel' : 'Retry'} ${pending.scope === 'selection' ? `${n} selected` : `all ${matching(pending.action)} matching`} task${(pending.scope === 'selection' ? n : matching(pending.action)) === 1 ? '' : 's'}?` : '';
  return (
    <div className="bulk" aria-label="Bulk actions" role="toolbar">
      {n > 0 ? (
        <>
          <span className="bulk-count">{n} selected</span>
          <button type="button" className="button" onClick={() => setPending({ action: 'cancel', scope: 'selection' })} data-testid="bulk-cancel">
            Cancel selected
          </button>
          <button type="button" className="button" onClick={() => setPending({ action: 'retry', scope: 'selection' })} data-testid="bulk-retry">
            Retry selected
          </button>
        </>
      ) : (
        <>
          <button type="button" className="button subtle-button" disabled={matching('cancel') === 0} onClick={() => setPending({ action: 'cancel', scope: 'all' })} data-testid="bulk-cancel-all">
            Cancel all matching ({matching('cancel')})
          </button>
          <button type="button" className="button subtle-button" disabled={matching('retry') === 0} onClick={() => setPending({ action: 'retry', scope: 'all' })} data-testid="bulk-retry-all">
            Retry all matching ({matching('retry')})
          </button>
        </>
      )}
      {progress && (
        <span className="bulk-progress" role="status" data-testid="bulk-progress">
          {progress}
        </span>
      )}
      <ConfirmDialog open={pending !== null} title={label} confirm={pending?.action === 'cancel' ? 'Cancel tasks' : 'Retry tasks'} danger={pending?.action === 'cancel'} onConfirm={() => void run()} onClose={() => setPending(null)}>
        <p>
          {pending?.action === 'cancel'
            ? 'Queued tasks stop at once; running ones are asked to stop at their next report.'
            : 'Each failed or canceled task is queued again as a new attempt; its history is kept.'}
          {pending?.scope === 'all' ? ' This applies to every task the current filters match, not only this page.' : ''}
        </p>
      </ConfirmDialog>
    </div>
  );
}

interface TableProps {
  rows: Task[];
  now: number;
  staff: boolean;
  loading: boolean;
  sort: SortKey;
  dir: number;
  onSort(k: SortKey): void;
  selected: Set<string>;
  setSelected(s: Set<string>): void;
}

function TaskTable({ rows, now, staff, loading, sort, dir, onSort, selected, setSelected }: TableProps) {
  const [focus, setFocus] = useState(0);
  const body = useRef<HTMLTableSectionElement>(null);
  const move = (i: number) => {
    const n = Math.max(0, Math.min(rows.length - 1, i));
    setFocus(n);
    (body.current?.rows[n] as HTMLElement | undefined)?.focus();
  };
  const onKey = (e: KeyboardEvent<HTMLTableSectionElement>) => {
    if ((e.target as HTMLElement).tagName !== 'TR') return;
    const i = Number((e.target as HTMLElement).dataset.index);
    if (e.key === 'ArrowDown') move(i + 1);
    else if (e.key === 'ArrowUp') move(i - 1);
    else if (e.key === 'Home') move(0);
    else if (e.key === 'End') move(rows.length - 1);
    else if (e.key === 'Enter') navigate(`/tasks/${encodeURIComponent(rows[i]!.id)}`);
    else if (e.key === ' ' && staff) toggle(rows[i]!.id);
    else return;
    e.preventDefault();
  };
  const toggle = (id: string) => {
    const next = new Set(selected);
    if (!next.delete(id)) next.add(id);
    setSelected(next);
  };
  const allOnPage = rows.length > 0 && rows.every((t) => selected.has(t.id));
  if (!loading && rows.length === 0) {
    return (
      <Empty title="No tasks match">
        <p className="subtle">Tasks appear here the moment they are created.</p>
      </Empty>
    );
  }
  return (
    <div className="table-wrap">
      <table className="tasks" aria-label="Tasks" aria-busy={loading} data-testid="task-table">
        <thead>
          <tr>
            {staff && (
              <th scope="col" className="col-check">
                <input
                  type="checkbox"
                  aria-label="Select every task on this page"
                  checked={allOnPage}
                  onChange={() => setSelected(allOnPage ? new Set() : new Set(rows.map((t) => t.id)))}
                />
              </th>
            )}
            <SortTh sort={sort} dir={dir} onSort={onSort}>Task</SortTh>
            <SortTh sort={sort} dir={dir} onSort={onSort} k="type" className="col-type">
              Type
            </SortTh>
            {staff && (
              <SortTh sort={sort} dir={dir} onSort={onSort} k="owner" className="col-owner">
                Owner
              </SortTh>
            )}
            <SortTh sort={sort} dir={dir} onSort={onSort} k="status">Status</SortTh>
            <SortTh sort={sort} dir={dir} onSort={onSort} className="col-progress">
              Progress
            </SortTh>
            <SortTh sort={sort} dir={dir} onSort={onSort} className="col-stage">Stage · message</SortTh>
            <SortTh sort={sort} dir={dir} onSort={onSort} className="col-eta">ETA</SortTh>
            <SortTh sort={sort} dir={dir} onSort={onSort} className="col-health">Health</SortTh>
            <SortTh sort={sort} dir={dir} onSort={onSort} className="col-attempt">
              Try
            </SortTh>
            <SortTh sort={sort} dir={dir} onSort={onSort} k="created" className="col-age">
              Age
            </SortTh>
            <SortTh sort={sort} dir={dir} onSort={onSort} className="col-duration">
              Duration
            </SortTh>
          </tr>
        </thead>
        <tbody ref={body} onKeyDown={onKey}>
          {rows.map((t, i) => (
            <Row key={t.id} task={t} index={i} focusable={i === Math.min(focus, rows.length - 1)} now={now} staff={staff} checked={selected.has(t.id)} onToggle={toggle} onFocusRow={setFocus} />
          ))}
        </tbody>
      </table>
    </div>
  );
}

function SortTh({ k, children, className, sort, dir, onSort }: { k?: SortKey; children: string; className?: string; sort: SortKey; dir: number; onSort(k: SortKey): void }) {
  if (!k) {
    return (
      <th scope="col" className={className}>
        {children}
      </th>
    );
  }
  return (
    <th scope="col" className={className} aria-sort={sort === k ? (dir === 1 ? 'ascending' : 'descending') : 'none'}>
      <button type="button" className="sort" onClick={() => onSort(k)}>
        {children}
        <span aria-hidden="true" className="sort-mark">
          {sort === k ? (dir === 1 ? '▲' : '▼') : ''}
        </span>
      </button>
    </th>
  );
}

const Row = memo(function Row(p: { task: Task; index: number; focusable: boolean; now: number; staff: boolean; checked: boolean; onToggle(id: string): void; onFocusRow(i: number): void }) {
  const t = p.task;
  const e = eta(t, p.now);
  const href = `/tasks/${encodeURIComponent(t.id)}`;
  return (
    <tr
      tabIndex={p.focusable ? 0 : -1}
      data-index={p.index}
      data-testid="task"
      data-task-id={t.id}
      data-status={t.status}
      onFocus={() => p.onFocusRow(p.index)}
      onDoubleClick={() => navigate(href)}
      aria-selected={p.staff ? p.checked : undefined}
    >
      {p.staff && (
        <td className="col-check">
          <input type="checkbox" aria-label={`Select ${t.id}`} checked={p.checked} onChange={() => p.onToggle(t.id)} tabIndex={-1} />
        </td>
      )}
      <td className="col-id">
        <CopyId id={t.id} tabIndex={p.focusable ? 0 : -1}>
          <Link to={href} className="task-link" title={t.id} tabIndex={-1}>
            {shortId(t.id)}
          </Link>
        </CopyId>
      </td>
      <td className="col-type">{t.type}</td>
      {p.staff && <td className="col-owner">{t.owner}</td>}
      <td>
        <StatusBadge status={t.status} cancelRequested={t.cancelRequested} />
      </td>
      <td className="col-progress">
        <ProgressBar task={t} />
      </td>
      <td className="col-stage">
        <div className="stage-line" data-testid="stage">
          {stageText(t)}
        </div>
        <div className="message" data-testid="message" title={t.message ?? t.error?.message ?? ''}>
          {t.status === 'failed' && t.error ? <span className="error-text">{t.error.message}</span> : rowMessage(t)}
        </div>
      </td>
      <td className="col-eta" title={e ? [e.band, e.why].filter(Boolean).join(' ') || undefined : undefined}>
        {e ? (
          <>
            <div>{e.text}</div>
            {e.band && <div className="subtle small">{e.band}</div>}
          </>
        ) : t.status === 'queued' && t.queue?.estimatedWaitMs ? (
          <span className="subtle">{startsIn(t.queue.estimatedWaitMs)}</span>
        ) : (
          <span className="muted">—</span>
        )}
      </td>
      <td className="col-health">
        <HealthBadge health={t.health} />
      </td>
      <td className="col-attempt">
        {t.attempt}/{t.maxAttempts}
      </td>
      <td className="col-age" title={t.createdAt}>
        {ago(t.createdAt, p.now)}
      </td>
      <td className="col-duration">{duration(runTime(t, p.now))}</td>
    </tr>
  );
});
