/** Shown without a credential: what the dashboard is and how to open it. */
import { ThemeToggle } from '../components.tsx';

const PROBLEM = {
  missing: null,
  api_key: 'That link carried an API key. The dashboard never keeps API keys in a browser; use a staff or viewer token instead.',
  malformed: 'That link’s token could not be read.',
  expired: 'That link has expired — get a new one (below).',
  session_expired: 'Your session has expired — get a new link (below) to carry on.',
} as const;

export function NoToken({ problem }: { problem: keyof typeof PROBLEM }) {
  return (
    <main className="gate" id="main">
      <div className="gate-card">
        <div className="gate-head">
          <h1>TaskPulse</h1>
          <ThemeToggle />
        </div>
        {PROBLEM[problem] && (
          <p className="alert" role="alert" data-testid="gate-problem" data-problem={problem}>
            {PROBLEM[problem]}
          </p>
        )}
        <p>The dashboard opens with a link that carries a token after the <code>#</code> (it never reaches the server’s logs).</p>
        <h2>Staff</h2>
        <p>On the server, run:</p>
        <pre>
          <code>npx taskpulse dashboard</code>
        </pre>
        <p>
          It prints <code>http://…/#token=…</code> — open it. With a remote server, pass <code>--url</code> and <code>--admin-key</code>, or mint one yourself:{' '}
          <code>POST /v1/tokens {'{"role":"staff"}'}</code> with an admin key.
        </p>
        <h2>Customers</h2>
        <p>
          Your app’s backend mints a viewer token for the signed-in user (<code>POST /v1/tokens {'{"owner":"user_42"}'}</code>) and links to{' '}
          <code>/#token=&lt;token&gt;</code>: they see their own tasks and inbox, nothing else.
        </p>
      </div>
    </main>
  );
}
