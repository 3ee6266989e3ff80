/**
 * `useRemainingTime`: the first paint already shows the ETA (react-dom/server, no DOM here). The
 * ticking itself is the client's `createCountdown`, proved on fake timers in
 * packages/client/test/countdown.test.ts.
 */
import { createElement } from 'react';
import { renderToString } from 'react-dom/server';
import { describe, expect, it } from 'vitest';
import { useRemainingTime } from '../src/index.ts';
import { task } from './support.ts';

describe('useRemainingTime, first render', () => {
  const show = (t: Parameters<typeof useRemainingTime>[0]) => {
    function Eta() {
      const left = useRemainingTime(t);
      return createElement('span', null, left ? `${left.remainingMs} ${left.lowMs}-${left.highMs} ${left.basis}` : 'none');
    }
    return renderToString(createElement(Eta));
  };

  it('shows a running task\'s ETA at once', () => {
    const eta = { remainingMs: 15_000, lowMs: 11_000, highMs: 24_000, at: '2026-01-01T00:00:15.000Z', basis: 'blend' as const };
    expect(show(task({ eta }))).toBe('<span>15000 11000-24000 blend</span>');
  });

  it('shows nothing without an ETA, for a finished task, or without a task', () => {
    const none = { remainingMs: null, lowMs: null, highMs: null, at: null, basis: 'none' as const };
    expect(show(task({ eta: none }))).toBe('<span>none</span>');
    const eta = { remainingMs: 1000, lowMs: 500, highMs: 2000, at: '2026-01-01T00:00:01.000Z', basis: 'rate' as const };
    expect(show(task({ eta, status: 'completed' }))).toBe('<span>none</span>');
    expect(show(undefined)).toBe('<span>none</span>');
  });
});
