import { describe, expect, it } from 'vitest';
import {
  CONNECTION_EVENTS,
  CONNECTION_STATES,
  type ConnectionEvent,
  type ConnectionState,
  nextState,
  type TransportMode,
} from '../src/state-machine.ts';

/**
 * Every state × every event, per transport mode. The type makes the compiler reject a table
 * that misses a state or an event: adding either forces a decision here (and in SPEC.md).
 */
type Table = Record<ConnectionState, Record<ConnectionEvent, ConnectionState>>;

const closedRow: Record<ConnectionEvent, ConnectionState> = {
  stream_open: 'closed',
  stream_failed: 'closed',
  watchdog: 'closed',
  poll_ok: 'closed',
  poll_failed: 'closed',
  offline: 'closed',
  online: 'closed',
  close: 'closed',
};

const AUTO: Table = {
  connecting: { stream_open: 'live', stream_failed: 'polling', watchdog: 'polling', poll_ok: 'polling', poll_failed: 'connecting', offline: 'offline', online: 'connecting', close: 'closed' },
  live: { stream_open: 'live', stream_failed: 'polling', watchdog: 'polling', poll_ok: 'live', poll_failed: 'live', offline: 'offline', online: 'live', close: 'closed' },
  polling: { stream_open: 'live', stream_failed: 'polling', watchdog: 'polling', poll_ok: 'polling', poll_failed: 'polling', offline: 'offline', online: 'polling', close: 'closed' },
  offline: { stream_open: 'live', stream_failed: 'offline', watchdog: 'offline', poll_ok: 'polling', poll_failed: 'offline', offline: 'offline', online: 'connecting', close: 'closed' },
  closed: closedRow,
};

const SSE: Table = {
  connecting: { stream_open: 'live', stream_failed: 'connecting', watchdog: 'connecting', poll_ok: 'connecting', poll_failed: 'connecting', offline: 'offline', online: 'connecting', close: 'closed' },
  live: { stream_open: 'live', stream_failed: 'connecting', watchdog: 'connecting', poll_ok: 'live', poll_failed: 'live', offline: 'offline', online: 'live', close: 'closed' },
  polling: { stream_open: 'live', stream_failed: 'connecting', watchdog: 'connecting', poll_ok: 'polling', poll_failed: 'polling', offline: 'offline', online: 'polling', close: 'closed' },
  offline: { stream_open: 'live', stream_failed: 'offline', watchdog: 'offline', poll_ok: 'offline', poll_failed: 'offline', offline: 'offline', online: 'connecting', close: 'closed' },
  closed: closedRow,
};

const POLLING: Table = {
  connecting: { stream_open: 'connecting', stream_failed: 'connecting', watchdog: 'connecting', poll_ok: 'polling', poll_failed: 'connecting', offline: 'offline', online: 'connecting', close: 'closed' },
  live: { stream_open: 'live', stream_failed: 'live', watchdog: 'live', poll_ok: 'live', poll_failed: 'live', offline: 'offline', online: 'live', close: 'closed' },
  polling: { stream_open: 'polling', stream_failed: 'polling', watchdog: 'polling', poll_ok: 'polling', poll_failed: 'polling', offline: 'offline', online: 'polling', close: 'closed' },
  offline: { stream_open: 'live', stream_failed: 'offline', watchdog: 'offline', poll_ok: 'polling', poll_failed: 'offline', offline: 'offline', online: 'connecting', close: 'closed' },
  closed: closedRow,
};

const TABLES: Record<TransportMode, Table> = { auto: AUTO, sse: SSE, polling: POLLING };

describe('connection state machine', () => {
  for (const [mode, table] of Object.entries(TABLES) as Array<[TransportMode, Table]>) {
    it(`follows the transition table in ${mode} mode`, () => {
      for (const state of CONNECTION_STATES) {
        for (const event of CONNECTION_EVENTS) {
          expect({ state, event, next: nextState(state, event, mode) }).toEqual({ state, event, next: table[state][event] });
        }
      }
    });
  }

  it('closed is terminal in every mode', () => {
    for (const mode of ['auto', 'sse', 'polling'] as const) {
      for (const event of CONNECTION_EVENTS) expect(nextState('closed', event, mode)).toBe('closed');
    }
  });

  it('lists every state and event exactly once', () => {
    expect(new Set(CONNECTION_STATES).size).toBe(Object.keys(AUTO).length);
    expect(new Set(CONNECTION_EVENTS).size).toBe(Object.keys(AUTO.live).length);
  });
});
