/**
 * Delivery health: how long the client spent live, polling and offline, how stale it got at
 * worst, how often it reconnected. Pure: the caller passes the clock's readings. The figures are
 * reported to the server (`POST /v1/client-metrics`) so operators see on `/metrics` when push is
 * failing for their users.
 *
 * Staleness without trusting the client's clock against the server's: for each event,
 * `lag = receivedAt − event.at` contains the clock offset plus the delivery delay. The smallest
 * lag seen estimates the offset (the fastest delivery is taken as ~0), so
 * `staleness = lag − min(lag)` measures the extra delay, whatever the skew.
 */
import type { ClientMetricsRequest } from '@taskpulse/protocol';
import type { ConnectionState } from './state-machine.ts';

/** The body of `POST /v1/client-metrics`: totals of one reporting window. */
export type DeliveryReport = ClientMetricsRequest;

export class DeliveryHealth {
  #state: ConnectionState;
  #since: number;
  #window: DeliveryReport = emptyReport();
  #total: DeliveryReport = emptyReport();
  #minLag = Infinity;

  constructor(state: ConnectionState, now: number) {
    this.#state = state;
    this.#since = now;
  }

  /** Records a state change at `now`. */
  state(next: ConnectionState, now: number): void {
    this.#account(now);
    this.#state = next;
  }

  /** Records an event created by the server at `serverAt` (ms since epoch) received at `now`. */
  delivered(serverAt: number, now: number): void {
    if (!Number.isFinite(serverAt)) return;
    const lag = now - serverAt;
    if (lag < this.#minLag) this.#minLag = lag;
    const staleness = Math.round(lag - this.#minLag);
    if (staleness > this.#window.worstStalenessMs) this.#window.worstStalenessMs = staleness;
    if (staleness > this.#total.worstStalenessMs) this.#total.worstStalenessMs = staleness;
  }

  /** Records one stream reconnect attempt. */
  reconnected(): void {
    this.#window.reconnects++;
    this.#total.reconnects++;
  }

  /** Totals since the client started. */
  totals(now: number): DeliveryReport {
    this.#account(now);
    return { ...this.#total };
  }

  /** The current window's figures; starts a new window. */
  takeWindow(now: number): DeliveryReport {
    this.#account(now);
    const report = this.#window;
    this.#window = emptyReport();
    return report;
  }

  #account(now: number): void {
    const elapsed = Math.max(0, now - this.#since);
    this.#since = now;
    // `connecting` is counted nowhere: it is neither delivering nor known to be cut off.
    const key = this.#state === 'live' ? 'liveMs' : this.#state === 'polling' ? 'pollingMs' : this.#state === 'offline' ? 'offlineMs' : null;
    if (key === null) return;
    this.#window[key] += elapsed;
    this.#total[key] += elapsed;
  }
}

function emptyReport(): DeliveryReport {
  return { liveMs: 0, pollingMs: 0, offlineMs: 0, worstStalenessMs: 0, reconnects: 0 };
}
