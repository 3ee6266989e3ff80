/**
 * The task pieces, built in the order they depend on each other — no piece needs one built after
 * it: the queue estimate, then the reader (which the stream hub and the routes use too), the
 * health watch, the unit of work (changes.ts), and on it the service's writes, the health checks
 * and the lease reaper. The server (app.ts), tests and benchmarks build them here.
 */
import type { Store } from '../store/store.ts';
import type { HistoryCache } from '../eta/history.ts';
import type { HealthConfig } from '../eta/eta.ts';
import { QueueEstimates } from './queue.ts';
import { TaskReader } from './reader.ts';
import { HealthChecks, HealthWatch } from './health.ts';
import { Changes } from './changes.ts';
import { TaskService } from './service.ts';
import { LeaseReaper } from './reaper.ts';

export interface TaskPieces {
  queue: QueueEstimates;
  reader: TaskReader;
  service: TaskService;
  health: HealthChecks;
  reaper: LeaseReaper;
}

export interface ComposeTasksOptions {
  store: Store;
  history: HistoryCache;
  /** Default lease, ms. */
  leaseMs: number;
  health: HealthConfig;
  /** Resolves when an event after `after` is dispatched, or on timeout (long-poll claims). */
  waitForEvent: (after: number, timeoutMs: number, signal?: AbortSignal) => Promise<void>;
  now?: () => number;
}

export function composeTasks(o: ComposeTasksOptions): TaskPieces {
  const { store, history } = o;
  const now = o.now ?? Date.now;
  const queue = new QueueEstimates(history, now);
  const reader = new TaskReader({ store, history, queue, now });
  const watch = new HealthWatch(history, o.health);
  const changes = new Changes({ store, history, queue, health: watch });
  return {
    queue,
    reader,
    service: new TaskService({ leaseMs: o.leaseMs }, { store, changes, reader, waitForEvent: o.waitForEvent, now }),
    health: new HealthChecks({ store, changes, watch, queue, now }),
    reaper: new LeaseReaper(changes, now),
  };
}
