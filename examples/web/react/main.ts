/**
 * Entry of the React example: reads the configuration, then renders {@link App} in
 * StrictMode (which also proves the hooks survive double effects).
 */
import { createElement, StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import type { TaskPulseClient } from '@taskpulse/client';
import { ConfigError, type PageGlobals, readConfig } from '../shared/config.ts';
import { App } from './app.tsx';

declare global {
  interface Window {
    TASKPULSE?: PageGlobals;
    /** The page's client, for debugging in the console (`taskpulse.diagnostics()`). */
    taskpulse?: TaskPulseClient;
  }
}

const root = document.getElementById('app')!;
try {
  const config = readConfig(location.search, location.origin, window.TASKPULSE);
  createRoot(root).render(createElement(StrictMode, null, createElement(App, { config })));
} catch (error) {
  if (!(error instanceof ConfigError)) throw error;
  const p = document.createElement('p');
  p.className = 'error';
  p.dataset.testid = 'error';
  p.textContent = error.message;
  root.append(p);
}
