/** The shell: header with navigation, connection and theme; the page the path names. */
import { QueryClient, QueryClientProvider } from '@tanstack/react-query';
import { TaskPulseProvider, useNotifications, useTaskPulseClient } from '@taskpulse/react';
import { useEffect, useMemo, useRef, useState } from 'react';
import { createApi } from './api.ts';
import { ConnectionIndicator, ThemeToggle } from './components.tsx';
import { Notices } from './components/notices.tsx';
import { InboxPage } from './pages/inbox.tsx';
import { StatsPage } from './pages/stats.tsx';
import { TaskPage } from './pages/task.tsx';
import { TasksPage } from './pages/tasks.tsx';
import { Link, useLocation } from './router.tsx';
import type { Session } from './session.ts';

type Signed = Exclude<Session, { kind: 'none' }>;

export function App({ session, onSignOut, onExpired }: { session: Signed; onSignOut(): void; onExpired(): void }) {
  const options = useMemo(
    () => ({
      url: location.origin,
      token: session.token,
      coalesce: true,
      // Tabs share one connection only with tabs of the same identity.
      multiTab: `taskpulse-dashboard:${session.kind === 'staff' ? 'staff' : `viewer:${session.owner}`}`,
    }),
    [session],
  );
  // Reads beside the live client (stats, history) are TanStack queries, invalidated by events, never polled.
  const [queryClient] = useState(() => new QueryClient({ defaultOptions: { queries: { refetchOnWindowFocus: false, staleTime: 30_000, retry: 1 } } }));
  return (
    <QueryClientProvider client={queryClient}>
      <TaskPulseProvider options={options}>
        <SessionExpiry expiresAt={session.expiresAt} onExpired={onExpired} />
        <Shell session={session} onSignOut={onSignOut} />
      </TaskPulseProvider>
    </QueryClientProvider>
  );
}

function Shell({ session, onSignOut }: { session: Signed; onSignOut(): void }) {
  const { path } = useLocation();
  const api = useMemo(() => createApi(session.token), [session.token]);
  const staff = session.kind === 'staff';
  const taskId = /^\/tasks\/([^/]+)$/.exec(path)?.[1];
  let page;
  if (taskId) page = <TaskPage key={taskId} id={decodeURIComponent(taskId)} api={api} staff={staff} />;
  else if (path === '/stats' && staff) page = <StatsPage api={api} />;
  else if (path === '/inbox' && !staff) page = <InboxPage />;
  else page = <TasksPage api={api} staff={staff} />;
  const section = taskId ? 'tasks' : path === '/stats' ? 'stats' : path === '/inbox' ? 'inbox' : 'tasks';
  return (
    <>
      <a className="skip" href="#main">
        Skip to content
      </a>
      <header className="topbar">
        <Link to="/" className="brand" aria-label="TaskPulse home">
          <svg viewBox="0 0 32 32" width="24" height="24" aria-hidden="true">
            <rect width="32" height="32" rx="8" className="brand-bg" />
            <path d="M5 17h6l3-8 4 14 3-6h6" fill="none" stroke="white" strokeWidth="2.5" strokeLinecap="round" strokeLinejoin="round" />
          </svg>
          <span>TaskPulse</span>
          <span className={`role role-${session.kind}`}>{staff ? 'staff' : session.owner}</span>
        </Link>
        <nav aria-label="Main">
          <Link to="/" aria-current={section === 'tasks' ? 'page' : undefined}>
            Tasks
          </Link>
          {staff ? (
            <Link to="/stats" aria-current={section === 'stats' ? 'page' : undefined}>
              Stats
            </Link>
          ) : (
            <InboxLink current={section === 'inbox'} />
          )}
        </nav>
        {/* In the top bar, beside the table rather than over it (docked to the bottom on a phone). */}
        {!staff && <Notices />}
        <div className="topbar-right">
          <ConnectionIndicator />
          <ThemeToggle />
          <button type="button" className="link-button signout" onClick={onSignOut}>
            Sign out
          </button>
        </div>
      </header>
      <main id="main" tabIndex={-1}>
        {page}
      </main>
    </>
  );
}

/**
 * Ends the session when its token runs out — at its `exp`, or as soon as the server refuses it
 * (the server ends a stream at its token's `exp`; the reconnect gets a 401 `token_expired`) — so
 * the page says "session expired" instead of sitting on stale data marked Offline.
 */
function SessionExpiry({ expiresAt, onExpired }: { expiresAt: number | null; onExpired(): void }) {
  const client = useTaskPulseClient();
  // The parent passes a new callback on each render; the timer follows the token, not the render.
  const expired = useRef(onExpired);
  expired.current = onExpired;
  useEffect(() => {
    const onExpired = () => expired.current();
    const off = client.auth.subscribe((e) => {
      if (e.type === 'token_expired' || e.type === 'auth_failed') onExpired();
    });
    // setTimeout holds at most 2^31-1 ms (~24.8 days); a longer token is checked again then.
    let timer: ReturnType<typeof setTimeout> | undefined;
    const arm = () => {
      if (expiresAt === null) return;
      const left = expiresAt - Date.now();
      timer = setTimeout(() => (left <= 2 ** 31 - 1 ? onExpired() : arm()), Math.max(0, Math.min(left, 2 ** 31 - 1)));
    };
    arm();
    return () => {
      off();
      clearTimeout(timer);
    };
  }, [client, expiresAt]);
  return null;
}

function InboxLink({ current }: { current: boolean }) {
  const { unreadCount } = useNotifications({ limit: 100 });
  return (
    <Link to="/inbox" aria-current={current ? 'page' : undefined} data-testid="inbox-link">
      Inbox
      {unreadCount > 0 && (
        <span className="unread" data-testid="unread">
          {unreadCount}
          <span className="sr-only"> unread</span>
        </span>
      )}
    </Link>
  );
}
