/** Small building blocks shared by the pages. */
import type { Task } from '@taskpulse/protocol';
import { useConnectionState } from '@taskpulse/react';
import { type ReactNode, useEffect, useRef, useState } from 'react';
import { percentText } from './format.ts';

export function StatusBadge({ status, cancelRequested }: { status: Task['status']; cancelRequested?: boolean }) {
  return (
    <span className={`badge status-${status}`} data-testid="status" data-status={status}>
      <span className="dot" aria-hidden="true" />
      {cancelRequested && status === 'running' ? 'canceling' : status}
    </span>
  );
}

const HEALTH_TEXT = { ok: 'ok', slow: 'slow', stuck: 'stalled' } as const;
const HEALTH_HELP = {
  ok: 'Progressing as usual',
  slow: 'This stage is taking longer than 90% of earlier runs',
  stuck: 'The worker is alive but progress has not moved for several times its usual gap',
} as const;

export function HealthBadge({ health }: { health: Task['health'] }) {
  if (!health) return <span className="muted">—</span>;
  return (
    <span className={`health health-${health}`} title={HEALTH_HELP[health]}>
      {HEALTH_TEXT[health]}
    </span>
  );
}

export function ProgressBar({ task, large = false }: { task: Task; large?: boolean }) {
  const p = task.progress.percent;
  const indeterminate = p === null && task.status === 'running';
  return (
    <div className={`progress ${large ? 'large' : ''}`}>
      <div
        className={`bar status-${task.status}${indeterminate ? ' indeterminate' : ''}`}
        role="progressbar"
        aria-label={`Progress of ${task.id}`}
        aria-valuemin={0}
        aria-valuemax={100}
        aria-valuenow={p ?? undefined}
        data-testid="bar"
        data-percent={p ?? ''}
      >
        <div className="fill" style={{ width: `${p ?? (indeterminate ? 30 : 0)}%` }} />
      </div>
      <span className="pct" data-testid="percent">
        {percentText(p)}
      </span>
    </div>
  );
}

/** The id, shortened, with a button that copies the whole id. */
/** `tabIndex` -1 keeps a table row's copy button out of the Tab order unless its row is the table's tab stop. */
export function CopyId({ id, children, tabIndex }: { id: string; children?: ReactNode; tabIndex?: number }) {
  const [copied, setCopied] = useState(false);
  const copy = () => {
    void navigator.clipboard?.writeText(id).then(
      () => {
        setCopied(true);
        setTimeout(() => setCopied(false), 1200);
      },
      () => {},
    );
  };
  return (
    <span className="copy-id">
      {children ?? <code title={id}>{id}</code>}
      <button type="button" className="icon-button" onClick={copy} aria-label={`Copy id ${id}`} title="Copy id" tabIndex={tabIndex}>
        {copied ? (
          <span aria-hidden="true">✓</span>
        ) : (
          <svg viewBox="0 0 16 16" width="13" height="13" aria-hidden="true" fill="none" stroke="currentColor" strokeWidth="1.5">
            <rect x="5" y="5" width="9" height="9" rx="2" />
            <path d="M11 5V3.5A1.5 1.5 0 0 0 9.5 2h-6A1.5 1.5 0 0 0 2 3.5v6A1.5 1.5 0 0 0 3.5 11H5" />
          </svg>
        )}
      </button>
    </span>
  );
}

const STATE_TEXT: Record<string, string> = {
  live: 'Live',
  polling: 'Polling',
  connecting: 'Connecting',
  reconnecting: 'Reconnecting',
  offline: 'Offline',
  closed: 'Closed',
};
const REASON_TEXT: Record<string, string> = {
  start: 'starting up',
  stream_open: 'the event stream is open: changes are pushed the moment they happen',
  stream_error: 'the event stream failed; reading the log by polling meanwhile',
  stream_ended: 'the event stream ended; reconnecting',
  stream_http_error: 'the server refused the stream',
  watchdog: 'the stream went silent (no heartbeat); polling until it recovers',
  poll_ok: 'reading changes by polling while the stream is down',
  poll_failed: 'the server cannot be reached; retrying',
  offline: 'the browser is offline',
  online: 'back online; reconnecting',
  unauthorized: 'the link has expired or was revoked',
  leader_changed: 'another tab took over the shared connection',
};

/** Live / Polling / Reconnecting / Offline, with the reason on hover and for screen readers. */
export function ConnectionIndicator() {
  const { state, reason } = useConnectionState();
  const shown = state === 'connecting' && reason !== 'start' ? 'reconnecting' : state;
  const why = REASON_TEXT[reason] ?? reason;
  return (
    <span className={`conn conn-${shown}`} data-testid="connection" data-state={state} title={why} role="status" aria-live="polite">
      <span className="dot" aria-hidden="true" />
      {STATE_TEXT[shown] ?? shown}
      <span className="sr-only">: {why}</span>
    </span>
  );
}

type Theme = 'system' | 'light' | 'dark';
const THEME_KEY = 'taskpulse.theme';

export function ThemeToggle() {
  const [theme, setTheme] = useState<Theme>(() => (localStorage.getItem(THEME_KEY) as Theme | null) ?? 'system');
  useEffect(() => {
    if (theme === 'system') {
      delete document.documentElement.dataset.theme;
      localStorage.removeItem(THEME_KEY);
    } else {
      document.documentElement.dataset.theme = theme;
      localStorage.setItem(THEME_KEY, theme);
    }
  }, [theme]);
  const next: Theme = theme === 'system' ? 'light' : theme === 'light' ? 'dark' : 'system';
  const icon = theme === 'light' ? '☀' : theme === 'dark' ? '☾' : '◐';
  return (
    <button type="button" className="icon-button theme" onClick={() => setTheme(next)} aria-label={`Theme: ${theme}. Switch to ${next}`} title={`Theme: ${theme} (click for ${next})`}>
      <span aria-hidden="true">{icon}</span>
    </button>
  );
}

/** A modal confirm built on <dialog> (focus is trapped and Escape closes it, natively). */
export function ConfirmDialog(props: { open: boolean; title: string; children: ReactNode; confirm: string; danger?: boolean; onConfirm(): void; onClose(): void }) {
  const ref = useRef<HTMLDialogElement>(null);
  useEffect(() => {
    const d = ref.current;
    if (!d) return;
    if (props.open && !d.open) d.showModal();
    if (!props.open && d.open) d.close();
  }, [props.open]);
  return (
    <dialog ref={ref} className="dialog" onClose={props.onClose} aria-labelledby="dialog-title">
      <h2 id="dialog-title">{props.title}</h2>
      <div className="dialog-body">{props.children}</div>
      <div className="dialog-actions">
        <button type="button" className="button" onClick={props.onClose}>
          Keep them
        </button>
        <button type="button" className={`button ${props.danger ? 'danger' : 'primary'}`} onClick={props.onConfirm} autoFocus>
          {props.confirm}
        </button>
      </div>
    </dialog>
  );
}

/** A re-render every `ms` while mounted: ages, durations and ETAs count on between events. */
export function useNow(ms = 1000): number {
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    const t = setInterval(() => setNow(Date.now()), ms);
    return () => clearInterval(t);
  }, [ms]);
  return now;
}

/** A table's column headers; a column named with a leading `#` is numeric (right-aligned): `'#Runs'`. */
export function TableHead({ columns }: { columns: readonly string[] }) {
  return (
    <thead>
      <tr>
        {columns.map((c) =>
          c.length > 1 && c.startsWith('#') ? (
            <th key={c} scope="col" className="num">
              {c.slice(1)}
            </th>
          ) : (
            <th key={c} scope="col">
              {c}
            </th>
          ),
        )}
      </tr>
    </thead>
  );
}

export function Empty({ title, children }: { title: string; children?: ReactNode }) {
  return (
    <div className="empty">
      <p className="empty-title">{title}</p>
      {children}
    </div>
  );
}
