/**
 * The poll loop: reads `/v1/events` from the cursor until the log is exhausted, at the interval
 * the poll policy picks from freshness, and at once for a catch-up read a heartbeat asked for.
 * What it reads goes to the log reader; a `Retry-After` is the minimum wait before the next read.
 */
import type { EventsResponse } from '@taskpulse/protocol';
import type { Environment } from './environment.ts';
import { isUnauthorized, TaskPulseClientError } from './errors.ts';
import type { GapDetector } from './gap-detector.ts';
import type { Http } from './http.ts';
import type { LogReader } from './log-reader.ts';
import type { ClientConfig } from './options.ts';
import { pollIntervalMs } from './poll-policy.ts';
import type { ConnectionState } from './state-machine.ts';

/** What the poller needs from the connection around it. */
export interface PollerHost {
  closed(): boolean;
  state(): ConnectionState;
  visibleHidden(): boolean;
  activeTasks(): number;
  /** When the client last had proof it was up to date, or `null`. */
  freshAt(): number | null;
  /** A read succeeded (it proves freshness). */
  ok(): void;
  failed(): void;
  unauthorized(): void;
  /** The log no longer holds the cursor and the answer had no snapshot: read one. */
  resetWithoutSnapshot(): Promise<void>;
}

export class Poller {
  readonly requests = { polls: 0, catchUps: 0 };
  /** Catch-up reads that found events the stream had not delivered. */
  gapsRepaired = 0;
  #config: ClientConfig;
  #env: Environment;
  #http: Http;
  #reader: LogReader;
  #gaps: GapDetector;
  #host: PollerHost;
  #busy = false;
  #again = false;
  #timer: unknown;
  #lastAt = 0;
  #failures = 0;
  /** No read before this time: the server's `Retry-After`. */
  #notBefore = 0;

  constructor(config: ClientConfig, env: Environment, http: Http, reader: LogReader, gaps: GapDetector, host: PollerHost) {
    this.#config = config;
    this.#env = env;
    this.#http = http;
    this.#reader = reader;
    this.#gaps = gaps;
    this.#host = host;
  }

  /** A read is in flight. */
  get busy(): boolean {
    return this.#busy;
  }

  /** The log was just read some other way (a snapshot): the next poll waits a full interval. */
  touch(): void {
    this.#lastAt = this.#env.now();
  }

  /** The current interval between polls, `null` while polling is paused. */
  interval(): number | null {
    if (this.#config.transport === 'sse' || this.#host.closed()) return null;
    const freshAt = this.#host.freshAt();
    return pollIntervalMs(
      {
        state: this.#host.state(),
        hidden: this.#host.visibleHidden(),
        activeTasks: this.#host.activeTasks(),
        msSinceFresh: freshAt === null ? Infinity : this.#env.now() - freshAt,
        failures: this.#failures,
      },
      this.#config.poll,
    );
  }

  /** (Re)plans the next poll from the policy. */
  schedule(): void {
    const t = this.#env.timers;
    t.clearTimeout(this.#timer);
    if (this.#host.closed() || this.#busy || this.#reader.cursor === null) return;
    const interval = this.interval();
    if (interval === null) return;
    const now = this.#env.now();
    const delay = Math.max(0, this.#lastAt + interval - now, this.#notBefore - now);
    this.#timer = t.setTimeout(() => void this.poll(false), delay);
  }

  stop(): void {
    this.#env.timers.clearTimeout(this.#timer);
  }

  /**
   * Reads the log from the cursor until it is exhausted.
   * @param gapCheck - a catch-up read asked for by a heartbeat: stream events wait for it.
   */
  async poll(gapCheck: boolean): Promise<void> {
    if (this.#busy) {
      this.#again = true;
      return;
    }
    if (this.#host.closed() || this.#reader.cursor === null || !this.#env.network.online()) return;
    this.#busy = true;
    this.#env.timers.clearTimeout(this.#timer);
    if (gapCheck) this.#reader.hold();
    let found = 0;
    try {
      for (;;) {
        if (gapCheck) this.requests.catchUps++;
        else this.requests.polls++;
        const res = await this.#http.json<EventsResponse>('GET', '/v1/events', { query: { after: this.#reader.cursor, limit: this.#config.pollLimit } });
        if (this.#host.closed()) return;
        if (res.reset) {
          if (res.tasks) this.#reader.snapshot({ head: res.head, tasks: res.tasks }, true, 'poll');
          else await this.#host.resetWithoutSnapshot();
          break;
        }
        const accepted = this.#reader.events(res.events, 'poll');
        found += accepted;
        if (res.events.length < this.#config.pollLimit) {
          this.#reader.advance(res.head, accepted === 0);
          break;
        }
      }
      this.#failures = 0;
      this.#lastAt = this.#env.now();
      if (gapCheck) {
        this.#gaps.checked(found > 0);
        if (found > 0) this.gapsRepaired++;
      }
      this.#host.ok();
    } catch (error) {
      if (this.#host.closed()) return;
      this.#failures++;
      this.#lastAt = this.#env.now();
      // 429/503 with Retry-After: that is the minimum wait (STYLE: errors and retries).
      if (error instanceof TaskPulseClientError && error.retryAfterMs !== undefined) this.#notBefore = this.#lastAt + error.retryAfterMs;
      if (isUnauthorized(error)) {
        this.#busy = false;
        return this.#host.unauthorized();
      }
      this.#host.failed();
    } finally {
      this.#busy = false;
      if (gapCheck) this.#reader.release();
    }
    if (this.#again) {
      this.#again = false;
      void this.poll(false);
    } else {
      this.schedule();
    }
  }
}
