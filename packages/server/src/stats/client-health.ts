/**
 * What browsers report about their own delivery (`POST /v1/client-metrics`): time live vs
 * polling vs offline, worst staleness, reconnects, kept per minute for the last day so the
 * dashboard can show whether users' screens are actually fresh. In memory, per instance: the
 * Prometheus counters on /metrics are the durable, cluster-wide record.
 */
import type { ClientHealthSummary } from '@taskpulse/protocol';

export interface ClientReport {
  liveMs: number;
  pollingMs: number;
  offlineMs: number;
  worstStalenessMs: number;
  reconnects: number;
}

interface Bucket extends ClientReport {
  minute: number;
  reports: number;
}

const MINUTE = 60_000;

export class ClientHealth {
  readonly #buckets: Bucket[] = [];
  readonly #keepMinutes: number;
  readonly #now: () => number;

  constructor(o: { keepMinutes?: number; now?: () => number } = {}) {
    this.#keepMinutes = o.keepMinutes ?? 24 * 60;
    this.#now = o.now ?? Date.now;
  }

  add(r: ClientReport): void {
    const minute = Math.floor(this.#now() / MINUTE);
    let b = this.#buckets[this.#buckets.length - 1];
    if (!b || b.minute !== minute) {
      b = { minute, reports: 0, liveMs: 0, pollingMs: 0, offlineMs: 0, worstStalenessMs: 0, reconnects: 0 };
      this.#buckets.push(b);
      while (this.#buckets.length > 0 && this.#buckets[0]!.minute <= minute - this.#keepMinutes) this.#buckets.shift();
    }
    b.reports += 1;
    b.liveMs += r.liveMs;
    b.pollingMs += r.pollingMs;
    b.offlineMs += r.offlineMs;
    b.worstStalenessMs = Math.max(b.worstStalenessMs, r.worstStalenessMs);
    b.reconnects += r.reconnects;
  }

  summary(windowMs: number): ClientHealthSummary {
    const from = Math.floor((this.#now() - windowMs) / MINUTE);
    const recent = this.#buckets.filter((b) => b.minute > from);
    const sum = (k: keyof ClientReport) => recent.reduce((a, b) => a + b[k], 0);
    const total = sum('liveMs') + sum('pollingMs') + sum('offlineMs');
    const share = (ms: number) => (total > 0 ? Math.round((ms / total) * 1000) / 1000 : null);
    return {
      windowMs,
      reports: recent.reduce((a, b) => a + b.reports, 0),
      liveShare: share(sum('liveMs')),
      pollingShare: share(sum('pollingMs')),
      offlineShare: share(sum('offlineMs')),
      worstStalenessMs: recent.length ? Math.max(...recent.map((b) => b.worstStalenessMs)) : null,
      reconnects: sum('reconnects'),
      perMinute: recent.map((b) => {
        const t = b.liveMs + b.pollingMs + b.offlineMs;
        return { at: new Date(b.minute * MINUTE).toISOString(), reports: b.reports, liveShare: t > 0 ? Math.round((b.liveMs / t) * 1000) / 1000 : null, worstStalenessMs: b.worstStalenessMs };
      }),
    };
  }
}
