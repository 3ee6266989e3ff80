/** Prometheus metrics, one registry per server instance (so tests can run many in one process). */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { Store, StageRun, StoredEvent } from './store/store.ts';

export class Metrics {
  readonly registry = new Registry();
  readonly eventsAppended: Counter;
  readonly openStreams: Gauge;
  readonly deliveryLag: Histogram;
  readonly stageDuration: Histogram;
  readonly leaseExpiries: Counter;
  readonly clientTime: Counter;
  readonly clientStaleness: Histogram;
  readonly clientReconnects: Counter;
  readonly httpRequests: Counter;
  readonly httpDuration: Histogram;

  constructor(store: Store, streams: () => number) {
    const registers = [this.registry];
    // The default metrics are already named `process_…`/`nodejs_…`: the prefix adds only `taskpulse_`.
    collectDefaultMetrics({ register: this.registry, prefix: 'taskpulse_' });
    new Gauge({
      name: 'taskpulse_tasks', help: 'Tasks by type and status', labelNames: ['type', 'status'], registers,
      async collect() {
        this.reset();
        for (const r of await store.tasks.countByTypeAndStatus()) this.set({ type: r.type, status: r.status }, r.count);
      },
    });
    this.eventsAppended = new Counter({ name: 'taskpulse_events_appended_total', help: 'Events appended to the log', registers });
    this.openStreams = new Gauge({
      name: 'taskpulse_open_streams', help: 'Open SSE streams', registers,
      collect() {
        this.set(streams());
      },
    });
    this.deliveryLag = new Histogram({
      name: 'taskpulse_delivery_lag_seconds', help: 'Time from an event being appended to it being written to the live streams that want it (once per event)', registers,
      buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5],
    });
    this.stageDuration = new Histogram({
      name: 'taskpulse_stage_duration_seconds', help: 'Completed stage durations', labelNames: ['type', 'stage'], registers,
      buckets: [0.1, 0.5, 1, 5, 15, 60, 300, 900, 3600],
    });
    this.leaseExpiries = new Counter({ name: 'taskpulse_lease_expiries_total', help: 'Leases that ran out (worker gone)', registers });
    this.clientTime = new Counter({
      name: 'taskpulse_client_delivery_seconds_total', help: 'Time browsers reported spending in each delivery mode', labelNames: ['mode'], registers,
    });
    this.clientStaleness = new Histogram({
      name: 'taskpulse_client_worst_staleness_seconds', help: 'Worst staleness browsers reported per report period', registers,
      buckets: [0.1, 0.5, 1, 2, 5, 10, 30, 60, 300],
    });
    this.clientReconnects = new Counter({ name: 'taskpulse_client_reconnects_total', help: 'Stream reconnects browsers reported', registers });
    const labelNames = ['method', 'route', 'status'];
    this.httpRequests = new Counter({ name: 'taskpulse_http_requests_total', help: 'HTTP requests answered, by route pattern and status', labelNames, registers });
    this.httpDuration = new Histogram({
      name: 'taskpulse_http_request_duration_seconds', help: 'Time to answer an HTTP request (streams excluded), by route pattern and status', labelNames, registers,
      buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10, 30],
    });
  }

  /**
   * One answered request. `route` is the route pattern (`/v1/tasks/:id`), never the raw URL, so
   * the label set stays bounded; `durationMs` null for a stream (its life is not a latency).
   */
  httpRequest(method: string, route: string, status: number, durationMs: number | null): void {
    const labels = { method, route, status: String(status) };
    this.httpRequests.inc(labels);
    if (durationMs !== null) this.httpDuration.observe(labels, durationMs / 1000);
  }

  committed(events: StoredEvent[]): void {
    this.eventsAppended.inc(events.length);
  }

  delivered(e: StoredEvent): void {
    this.deliveryLag.observe(Math.max(0, Date.now() - Date.parse(e.at)) / 1000);
  }

  stageRun(r: StageRun): void {
    this.stageDuration.observe({ type: r.type, stage: r.stage }, r.durationMs / 1000);
  }
}
