/** The customer's inbox: a notification per finished task, unread first in weight. */
import { useNotifications } from '@taskpulse/react';
import { Empty, useNow } from '../components.tsx';
import { ago } from '../format.ts';
import { Link } from '../router.tsx';

export function InboxPage() {
  const inbox = useNotifications({ limit: 100 });
  const now = useNow(5000);
  return (
    <section aria-labelledby="inbox-title">
      <div className="page-head row">
        <div>
          <h1 id="inbox-title">Inbox</h1>
          <p className="subtle">{inbox.unreadCount} unread</p>
        </div>
        <button type="button" className="button" disabled={inbox.unreadCount === 0} onClick={() => void inbox.markAllRead()}>
          Mark all read
        </button>
      </div>
      {inbox.loading ? (
        <p className="subtle">Loading…</p>
      ) : inbox.notifications.length === 0 ? (
        <Empty title="Nothing yet">
          <p className="subtle">When one of your tasks finishes, it is noted here — even if this page was closed.</p>
        </Empty>
      ) : (
        <ul className="inbox" data-testid="inbox">
          {inbox.notifications.map((n) => (
            <li key={n.id} className={`inbox-item kind-${n.kind} ${n.readAt ? 'read' : 'unread'}`} data-testid="notification">
              <span className="dot" aria-hidden="true" />
              <div className="inbox-body">
                <Link to={`/tasks/${encodeURIComponent(n.taskId)}`} className="inbox-title">
                  {n.title}
                </Link>
                <p>{n.body}</p>
              </div>
              <time className="subtle small" dateTime={n.createdAt} title={n.createdAt}>
                {ago(n.createdAt, now)}
              </time>
              {!n.readAt && <span className="sr-only">unread</span>}
            </li>
          ))}
        </ul>
      )}
    </section>
  );
}
