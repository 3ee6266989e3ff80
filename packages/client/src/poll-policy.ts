/**
 * How often to read `/v1/events`, driven by freshness. Pure.
 *
 * "Fresh" means the client has proof it is up to date: an event, a heartbeat whose head it has
 * reached, or a successful poll. A live stream that keeps proving itself costs one safety read
 * per `liveSafetyMs`; a live stream that has gone quiet while tasks run is checked more often;
 * a degraded connection polls every 1–5 s; a hidden tab polls less; offline polls not at all.
 */
import type { ConnectionState } from './state-machine.ts';

/** Tunables of the policy, all in milliseconds except the factor. */
export interface PollPolicyConfig {
  /** Live and fresh: the cheap safety check. */
  liveSafetyMs: number;
  /** Live, tasks running, but no proof of freshness for `quietAfterMs`. */
  liveQuietMs: number;
  quietAfterMs: number;
  /** Degraded (polling) with tasks running: the fastest interval. */
  degradedMinMs: number;
  /** Degraded with nothing running, and the cap while polls keep failing. */
  degradedMaxMs: number;
  /** A hidden tab multiplies the interval by this. */
  hiddenFactor: number;
}

/** What the policy looks at. */
export interface PollInput {
  state: ConnectionState;
  hidden: boolean;
  /** Tasks this client knows to be queued or running. */
  activeTasks: number;
  /** Milliseconds since the last proof of freshness. */
  msSinceFresh: number;
  /** Consecutive failed polls. */
  failures: number;
}

/** The delay until the next poll, or `null` when polling is paused. */
export function pollIntervalMs(input: PollInput, config: PollPolicyConfig): number | null {
  const { state, hidden, activeTasks, msSinceFresh, failures } = input;
  if (state === 'offline' || state === 'closed') return null;
  let interval: number;
  if (state === 'live') {
    const quiet = activeTasks > 0 && msSinceFresh >= config.quietAfterMs;
    interval = quiet ? config.liveQuietMs : config.liveSafetyMs;
  } else {
    const base = activeTasks > 0 ? config.degradedMinMs : config.degradedMaxMs;
    interval = Math.min(config.degradedMaxMs, base * 2 ** Math.min(failures, 16));
  }
  return hidden ? interval * config.hiddenFactor : interval;
}
