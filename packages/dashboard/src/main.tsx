/** Entry: take the credential from the fragment, then the console (staff) or the portal (viewer). */
import { StrictMode, useState } from 'react';
import { createRoot } from 'react-dom/client';
import { App } from './app.tsx';
import { forgetSession, loadSession, type Session } from './session.ts';
import { NoToken } from './pages/no-token.tsx';
import './styles.css';

function Root() {
  const [session, setSession] = useState<Session>(() => loadSession());
  if (session.kind === 'none') return <NoToken problem={session.problem} />;
  return (
    <App
      key={session.token}
      session={session}
      onSignOut={() => {
        forgetSession();
        setSession({ kind: 'none', problem: 'missing' });
      }}
      onExpired={() => {
        forgetSession();
        setSession({ kind: 'none', problem: 'session_expired' });
      }}
    />
  );
}

createRoot(document.getElementById('root')!).render(
  <StrictMode>
    <Root />
  </StrictMode>,
);
