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

/** The poll loop, as the connection drives it. */
export interface Poller {
  readonly requests: { polls: number; catchUps: number };
  /** Catch-up reads that found events the stream had not delivered. */
  readonly gapsRepaired: number;
  /** A read is in flight. */
  readonly busy: boolean;
  /** The log was just read some other way (a snapshot): the next poll waits a full interval. */
  touch(): void;
  /** The current interval between polls, `null` while polling is paused. */
  interval(): number | null;
  /** (Re)plans the next poll from the policy. */
  schedule(): void;
  stop(): void;
  /**
   * Reads the log from the cursor until it is exhausted.
   * @param gapCheck - a catch-up read asked for by a heartbeat: stream events wait for it.
   */
  poll(gapCheck: boolean): Promise<void>;
}

export function createPoller(config: ClientConfig, env: Environment, http: Http, reader: LogReader, gaps: GapDetector, host: PollerHost): Poller {
  const { timers } = env;
  const requests = { polls: 0, catchUps: 0 };
  let gapsRepaired = 0;
  let busy = false;
  let again = false;
  let timer: unknown;
  let lastAt = 0;
  let failures = 0;
  /** No read before this time: the server's `Retry-After`. */
  let notBefore = 0;

  function interval(): number | null {
    if (config.transport === 'sse' || host.closed()) return null;
    const freshAt = host.freshAt();
    return pollIntervalMs(
      {
        state: host.state(),
        hidden: host.visibleHidden(),
        activeTasks: host.activeTasks(),
        msSinceFresh: freshAt === null ? Infinity : env.now() - freshAt,
        failures,
      },
      config.poll,
    );
  }

  function schedule(): void {
    timers.clearTimeout(timer);
    if (host.closed() || busy || reader.cursor === null) return;
    const wait = interval();
    if (wait === null) return;
    const now = env.now();
    timer = timers.setTimeout(() => void poll(false), Math.max(0, lastAt + wait - now, notBefore - now));
  }

  async function poll(gapCheck: boolean): Promise<void> {
    if (busy) {
      again = true;
      return;
    }
    if (host.closed() || reader.cursor === null || !env.network.online()) return;
    busy = true;
    timers.clearTimeout(timer);
    if (gapCheck) reader.hold();
    let found = 0;
    try {
      for (;;) {
        requests[gapCheck ? 'catchUps' : 'polls']++;
        const res = await http.json<EventsResponse>('GET', '/v1/events', { query: { after: reader.cursor, limit: config.pollLimit } });
        if (host.closed()) return;
        if (res.reset) {
          if (res.tasks) reader.snapshot({ head: res.head, tasks: res.tasks }, true, 'poll');
          else await host.resetWithoutSnapshot();
          break;
        }
        const accepted = reader.events(res.events, 'poll');
        found += accepted;
        if (res.events.length < config.pollLimit) {
          reader.advance(res.head, accepted === 0);
          break;
        }
      }
      failures = 0;
      lastAt = env.now();
      if (gapCheck) {
        gaps.checked(found > 0);
        if (found > 0) gapsRepaired++;
      }
      host.ok();
    } catch (error) {
      if (host.closed()) return;
      failures++;
      lastAt = env.now();
      // 429/503 with Retry-After: that is the minimum wait (STYLE: errors and retries).
      if (error instanceof TaskPulseClientError && error.retryAfterMs !== undefined) notBefore = lastAt + error.retryAfterMs;
      if (isUnauthorized(error)) {
        busy = false;
        return host.unauthorized();
      }
      host.failed();
    } finally {
      busy = false;
      if (gapCheck) reader.release();
    }
    if (again) {
      again = false;
      void poll(false);
    } else {
      schedule();
    }
  }

  return {
    requests,
    get gapsRepaired() {
      return gapsRepaired;
    },
    get busy() {
      return busy;
    },
    touch() {
      lastAt = env.now();
    },
    interval,
    schedule,
    stop: () => timers.clearTimeout(timer),
    poll,
  };
}
