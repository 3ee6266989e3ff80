/**
 * The one holder of the connection's state, whoever drives it: the connection in a leader or
 * solo tab, the leader's broadcasts in a follower, `close()` at the end. Every change is
 * emitted once as `{previous, current, reason}` and accounted in the delivery health.
 */
import type { DeliveryHealth } from './delivery-health.ts';
import { listeners } from './listeners.ts';
import type { ConnectionState, StateChange, StateReason } from './state-machine.ts';

/** The connection's state, as a stable snapshot. */
export interface ConnectionStatus {
  state: ConnectionState;
  reason: StateReason;
}

export class ConnectionStatusHolder {
  #status: ConnectionStatus = { state: 'connecting', reason: 'start' };
  #listeners = listeners<StateChange>();
  #health: DeliveryHealth;
  #now: () => number;
  #onError: (error: unknown) => void;

  constructor(health: DeliveryHealth, now: () => number, onError: (error: unknown) => void) {
    this.#health = health;
    this.#now = now;
    this.#onError = onError;
  }

  /** The current status: the same object until the state changes. */
  get current(): ConnectionStatus {
    return this.#status;
  }

  get state(): ConnectionState {
    return this.#status.state;
  }

  /** Moves to `state` for `reason`; nothing happens when the state is the same. */
  set(state: ConnectionState, reason: StateReason): void {
    const previous = this.#status.state;
    if (previous === state) return;
    this.#status = { state, reason };
    this.#health.state(state, this.#now());
    this.#listeners.emit({ previous, current: state, reason }, this.#onError);
  }

  subscribe(listener: (change: StateChange) => void): () => void {
    return this.#listeners.add(listener);
  }
}
