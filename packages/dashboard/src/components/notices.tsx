/**
 * Completion notices for the customer: at most three on screen, each gone after a few seconds,
 * the rest collapsed into "N more finished". Each completion is announced once per browser and
 * never again after a reload (the client marks it read on the server once shown).
 */
import type { Notification } from '@taskpulse/protocol';
import { useNotifications } from '@taskpulse/react';
import { useEffect, useState } from 'react';
import { addNotice, clearMore, dismissNotice, EMPTY_NOTICES, expireNotices, NOTICE_RULES } from '@taskpulse/client';
import { Link } from '../router.tsx';

export function Notices() {
  const [state, setState] = useState(EMPTY_NOTICES);
  useNotifications({
    inbox: false,
    onNotification: (n: Notification) => setState((s) => addNotice(s, { id: n.id, title: n.title, body: n.body, kind: n.kind, taskId: n.taskId }, Date.now())),
  });
  useEffect(() => {
    if (state.visible.length === 0) return;
    const oldest = Math.min(...state.visible.map((v) => v.shownAt));
    const t = setTimeout(() => setState((s) => expireNotices(s, Date.now())), Math.max(50, oldest + NOTICE_RULES.ttlMs - Date.now()));
    return () => clearTimeout(t);
  }, [state.visible]);
  return (
    <div className="notices" aria-live="polite" aria-label="Notifications" data-testid="notices">
      {state.visible.map((n) => (
        <div key={n.id} className={`notice kind-${n.kind}`} data-testid="completion" role="status">
          <div className="notice-body">
            <Link to={`/tasks/${encodeURIComponent(n.taskId)}`} className="notice-title">
              {n.title}
            </Link>
            <p>{n.body}</p>
          </div>
          <button type="button" className="icon-button" aria-label="Dismiss" onClick={() => setState((s) => dismissNotice(s, n.id))}>
            ×
          </button>
        </div>
      ))}
      {state.more > 0 && (
        <div className="notice more" data-testid="more-finished">
          <Link to="/inbox" onClick={() => setState(clearMore)}>
            {state.more} more finished
          </Link>
          <button type="button" className="icon-button" aria-label="Dismiss" onClick={() => setState(clearMore)}>
            ×
          </button>
        </div>
      )}
    </div>
  );
}
