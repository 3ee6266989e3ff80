/**
 * The connection state machine, as data. Pure: the connection manager feeds it what happened
 * and does what the resulting state asks for. SPEC.md describes every cell; the tests hold a
 * table typed `Record<State, Record<ConnectionEvent, State>>` per transport mode, so a new state
 * or event that is not handled everywhere fails to compile.
 */

/** Where the client stands. */
export type ConnectionState = 'connecting' | 'live' | 'polling' | 'offline' | 'closed';

/** Every connection state, in lifecycle order. */
export const CONNECTION_STATES: readonly ConnectionState[] = ['connecting', 'live', 'polling', 'offline', 'closed'];

/** What can happen to a connection. */
export type ConnectionEvent =
  /** The stream answered 200 with an event stream. */
  | 'stream_open'
  /** The stream failed: network error, non-200, or it ended. */
  | 'stream_failed'
  /** Nothing (no event, no heartbeat) arrived for 2 × heartbeat. */
  | 'watchdog'
  /** A read of `/v1/events` succeeded. */
  | 'poll_ok'
  /** A read of `/v1/events` failed. */
  | 'poll_failed'
  /** The network went away (`navigator.onLine` false) or credentials are unusable. */
  | 'offline'
  /** The network came back. */
  | 'online'
  /** The client was closed. */
  | 'close';

export const CONNECTION_EVENTS: readonly ConnectionEvent[] = [
  'stream_open',
  'stream_failed',
  'watchdog',
  'poll_ok',
  'poll_failed',
  'offline',
  'online',
  'close',
];

/**
 * How events reach the client.
 * - `auto`: SSE, bridged by polling whenever it fails.
 * - `sse`: SSE only (polling is used only for targeted catch-up reads); while it reconnects the state is `connecting`.
 * - `polling`: `/v1/events` only, for networks where streams are blocked.
 */
export type TransportMode = 'auto' | 'sse' | 'polling';

/** Why a state changed. */
export type StateReason =
  | 'start'
  | 'stream_open'
  | 'stream_error'
  | 'stream_ended'
  | 'stream_http_error'
  | 'watchdog'
  | 'poll_ok'
  | 'poll_failed'
  | 'offline'
  | 'online'
  | 'unauthorized'
  | 'leader_changed'
  | 'closed';

/** One state change, as emitted by `connection.subscribe`. */
export interface StateChange {
  previous: ConnectionState;
  current: ConnectionState;
  reason: StateReason;
}

/** The next state; equal to `state` when the event changes nothing. */
export function nextState(state: ConnectionState, event: ConnectionEvent, mode: TransportMode): ConnectionState {
  if (state === 'closed' || event === 'close') return 'closed';
  if (event === 'offline') return 'offline';
  if (state === 'offline') {
    // Offline ends when the network says so, or when data flows anyway (navigator.onLine lies).
    if (event === 'online') return 'connecting';
    if (event === 'stream_open') return 'live';
    if (event === 'poll_ok') return mode === 'sse' ? 'offline' : 'polling';
    return 'offline';
  }
  switch (event) {
    case 'stream_open':
      return mode === 'polling' ? state : 'live';
    case 'stream_failed':
    case 'watchdog':
      if (mode === 'sse') return 'connecting';
      if (mode === 'polling') return state;
      return 'polling';
    case 'poll_ok':
      // A poll while live is the safety check: the stream still decides. Otherwise polling carries.
      if (state === 'live') return 'live';
      return mode === 'sse' ? state : 'polling';
    case 'poll_failed':
    case 'online':
      return state;
  }
}
