/**
 * The server's actual heartbeat interval, learned from the stream. The watchdog (2 × heartbeat)
 * then fits the server whatever `heartbeatMs` the app configured: a server with 2 s heartbeats
 * gets a 4 s watchdog without touching the client, and a slower server does not make the
 * watchdog fire between two healthy heartbeats. Pure.
 */

const KEEP = 3;
const MIN_MS = 250;
const MAX_MS = 60_000;

export class HeartbeatInterval {
  #configuredMs: number;
  #gaps: number[] = [];
  #last: number | null = null;

  constructor(configuredMs: number) {
    this.#configuredMs = configuredMs;
  }

  /** A new stream: the next heartbeat starts a new gap. */
  streamOpened(): void {
    this.#last = null;
  }

  /** A heartbeat arrived at `now`. */
  heartbeat(now: number): void {
    if (this.#last !== null) {
      this.#gaps.push(now - this.#last);
      if (this.#gaps.length > KEEP) this.#gaps.shift();
    }
    this.#last = now;
  }

  /** The interval to plan with: the largest of the last gaps once two are known, else the configured one. */
  get ms(): number {
    if (this.#gaps.length < 2) return this.#configuredMs;
    return Math.min(MAX_MS, Math.max(MIN_MS, ...this.#gaps));
  }
}
