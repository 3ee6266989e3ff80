/**
 * The background jobs and how often they run: lease reaping, the health scan, health deadlines,
 * event pruning and the webhook outbox (which a commit also wakes at once). A run never overlaps
 * the previous run of its job; a failure is logged — a storage fault as a warning, since a
 * dependency that is down is an operating condition (`/readyz` says so), not a bug — and the job
 * runs again at its next tick. The timers never keep the process alive.
 */
import type { ServerConfig } from './config.ts';
import type { Store } from './store/store.ts';
import { storageFault } from './store/faults.ts';

export interface BackgroundDeps {
  store: Store;
  /** Sends tasks whose lease expired back to the queue (or fails them); returns how many. */
  reap: () => Promise<number>;
  /** The full health scan of running tasks. */
  checkHealth: () => Promise<void>;
  /** The health deadlines that passed (O(due)). */
  checkDeadlines: () => Promise<void>;
  webhooks: { tick(): Promise<void> };
  /** Counts the leases that expired. */
  onLeasesExpired: (n: number) => void;
  log: { warn(o: object, msg: string): void; error(o: object, msg: string): void };
}

/** How often health deadlines are checked: `deadlineCheckMs`, never less often than the full scan. */
export function deadlineCheckEveryMs(c: Pick<ServerConfig, 'deadlineCheckMs' | 'healthIntervalMs'>): number {
  return Math.min(c.deadlineCheckMs, c.healthIntervalMs);
}

export class Background {
  readonly #config: ServerConfig;
  readonly #deps: BackgroundDeps;
  readonly #timers: NodeJS.Timeout[] = [];
  #running = false;
  #webhookWake: NodeJS.Immediate | null = null;

  constructor(config: ServerConfig, deps: BackgroundDeps) {
    this.#config = config;
    this.#deps = deps;
  }

  /** Starts every job's timer. */
  start(): void {
    if (this.#running) return;
    this.#running = true;
    const c = this.#config;
    const d = this.#deps;
    this.#every(c.reaperIntervalMs, async () => {
      const n = await d.reap();
      if (n > 0) d.onLeasesExpired(n);
    });
    this.#every(c.healthIntervalMs, d.checkHealth);
    // Health deadlines of the tasks this instance saw report live in memory: checking them is O(due).
    this.#every(deadlineCheckEveryMs(c), d.checkDeadlines);
    this.#every(Math.min(c.pruneIntervalMs, c.retentionMs), () => d.store.events.prune(Date.now() - c.retentionMs));
    this.#every(Math.max(50, Math.min(c.webhookTickMs, c.webhookRetryBaseMs)), () => d.webhooks.tick());
  }

  /** A commit or a subscription change: the webhook outbox is looked at in the next turn (once started). */
  wakeWebhooks(): void {
    if (this.#running && !this.#webhookWake) this.#webhookWake = setImmediate(() => ((this.#webhookWake = null), void this.#deps.webhooks.tick()));
  }

  /** Stops every timer (a run in progress finishes on its own). Idempotent. */
  stop(): void {
    this.#running = false;
    for (const t of this.#timers.splice(0)) clearInterval(t);
    if (this.#webhookWake) clearImmediate(this.#webhookWake);
    this.#webhookWake = null;
  }

  #every(ms: number, fn: () => Promise<unknown>): void {
    let busy = false;
    const t = setInterval(() => {
      if (busy) return;
      busy = true;
      fn()
        .catch((error: unknown) => this.#deps.log[storageFault(error) ? 'warn' : 'error']({ err: error }, 'background task failed'))
        .finally(() => (busy = false));
    }, ms);
    t.unref();
    this.#timers.push(t);
  }
}
