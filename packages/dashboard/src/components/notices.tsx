/**
 * Completion notices for the customer: one at a time (the newest), gone after a few seconds, with
 * every other completion summed in its "N more finished" line that opens the inbox. Each
 * completion is announced once per browser and never again after a reload (the client marks it
 * read on the server once shown). Where it sits is the stylesheet's business: in the top bar on a
 * wide screen, so it never covers the table; docked to the bottom edge on a narrow one, one
 * compact box with room kept below the page's content.
 */
import type { Notification } from '@taskpulse/protocol';
import { useNotifications } from '@taskpulse/react';
import { useEffect, useState } from 'react';
import { addNotice, clearMore, dismissNotice, EMPTY_NOTICES, expireNotices, foldNotices, NOTICE_RULES, type NoticeState } from '@taskpulse/client/notices';
import { Link } from '../router.tsx';

/** One box: the newest notice, the others counted in it. */
const SLOTS = 1;

export function Notices() {
  const [state, setState] = useState<NoticeState>(EMPTY_NOTICES);
  useNotifications({
    inbox: false,
    onNotification: (n: Notification) =>
      setState((s) => foldNotices(addNotice(s, { id: n.id, title: n.title, body: n.body, kind: n.kind, taskId: n.taskId }, Date.now()), SLOTS)),
  });
  useEffect(() => {
    if (state.visible.length === 0) return;
    const oldest = Math.min(...state.visible.map((v) => v.shownAt));
    const t = setTimeout(() => setState((s) => expireNotices(s, Date.now())), Math.max(50, oldest + NOTICE_RULES.ttlMs - Date.now()));
    return () => clearTimeout(t);
  }, [state.visible]);
  const n = state.visible.at(-1);
  const { more } = state;
  const dismiss = () => setState((s) => clearMore(n ? dismissNotice(s, n.id) : s));
  return (
    <div className="notices" aria-live="polite" aria-label="Notifications" data-testid="notices">
      {(n !== undefined || more > 0) && (
        <div className={`notice kind-${n?.kind ?? 'more'}`} data-testid={n ? 'completion' : undefined} role="status">
          <div className="notice-body">
            {n && (
              <>
                <Link to={`/tasks/${encodeURIComponent(n.taskId)}`} className="notice-title">
                  {n.title}
                </Link>
                <span className="notice-text">{n.body}</span>
              </>
            )}
            {more > 0 && (
              <Link to="/inbox" className="notice-more" data-testid="more-finished" onClick={() => setState(clearMore)}>
                {more} more finished — see the inbox
              </Link>
            )}
          </div>
          <button type="button" className="icon-button" aria-label="Dismiss" onClick={dismiss}>
            ×
          </button>
        </div>
      )}
    </div>
  );
}
