/**
 * Completion notices for the customer: at most three on screen, each gone after a few seconds,
 * the rest collapsed into "N more finished". Each completion is announced once per browser and
 * never again after a reload (the client marks it read on the server once shown).
 */
import type { Notification } from '@taskpulse/protocol';
import { useNotifications } from '@taskpulse/react';
import { useEffect, useState, useSyncExternalStore } from 'react';
import { addNotice, clearMore, dismissNotice, EMPTY_NOTICES, expireNotices, NOTICE_RULES } from '@taskpulse/client/notices';
import { Link } from '../router.tsx';

/** Phones: one compact line (the newest notice, the rest counted), so the table is never covered. */
const NARROW = '(max-width: 640px)';
const narrowQuery = typeof matchMedia === 'function' ? matchMedia(NARROW) : null;
function useNarrow(): boolean {
  return useSyncExternalStore(
    (cb) => {
      narrowQuery?.addEventListener('change', cb);
      return () => narrowQuery?.removeEventListener('change', cb);
    },
    () => narrowQuery?.matches ?? false,
  );
}

export function Notices() {
  const narrow = useNarrow();
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
  // On a phone only the newest shows; the others on screen are counted with the collapsed ones.
  const shown = narrow ? state.visible.slice(-1) : state.visible;
  const more = state.more + (state.visible.length - shown.length);
  return (
    <div className={`notices${narrow ? ' compact' : ''}`} aria-live="polite" aria-label="Notifications" data-testid="notices">
      {shown.map((n) => (
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
      {more > 0 && (
        <div className="notice more" data-testid="more-finished">
          <Link to="/inbox" onClick={() => setState(clearMore)}>
            {more} more finished
          </Link>
          <button type="button" className="icon-button" aria-label="Dismiss" onClick={() => setState(clearMore)}>
            ×
          </button>
        </div>
      )}
    </div>
  );
}
