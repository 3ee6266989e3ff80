/**
 * The shapes of the read-only reports (`/v1/stats`, `/v1/stats/history`, `/v1/client-metrics`),
 * as plain types: the server builds them, the dashboard reads them.
 */

/** One stage of one task type, over the window. */
export interface StageStat {
  stage: string;
  count: number;
  medianMs: number;
  p90Ms: number;
  /** This stage's share of a typical run (its median over the sum of stage medians). */
  share: number | null;
}

export interface TypeStats {
  type: string;
  count: number;
  medianMs: number | null;
  p90Ms: number | null;
  throughputPerMin: number;
  queued: number;
  running: number;
  completed: number;
  failed: number;
  canceled: number;
  queueWait: { medianMs: number; p90Ms: number } | null;
  stages: StageStat[];
  /** How right the ETA was on this type's tasks that completed in the window; null before any. */
  eta: EtaAccuracy | null;
}

/** Observed ETA accuracy (see docs/server.md, "How the ETA works"). Shares are 0–1. */
export interface EtaAccuracy {
  /** Completed tasks scored. */
  tasks: number;
  /** Median |shown − true remaining| / true remaining at 50 % of the run. */
  medianErrorAt50: number | null;
  /** How often the true remaining time was inside [lowMs, highMs], over every checkpoint. */
  bandCoverage: number | null;
  /** Median (highMs − lowMs) / true remaining, over every checkpoint. */
  bandWidth: number | null;
  /** How often there was no ETA to show, over every checkpoint. */
  noEta: number | null;
  checkpoints: { at: number; count: number; medianError: number | null; p90Error: number | null; bandCoverage: number | null; noEta: number | null }[];
}

export interface Bottleneck {
  type: string;
  stage: string | null;
  kind: 'stage' | 'queue' | 'variance';
  share: number | null;
  recommendation: string;
}

/** `GET /v1/stats`. */
export interface StatsReport {
  windowMs: number;
  types: TypeStats[];
  bottlenecks: Bottleneck[];
}

export interface ThroughputBucket {
  /** Start of the bucket (ISO 8601). */
  at: string;
  completed: number;
  failed: number;
  canceled: number;
}

export interface FailureGroup {
  code: string;
  message: string;
  type: string;
  count: number;
  lastAt: string;
}

export interface Distribution {
  type: string;
  /** A stage key; `*` is the whole task, `~queue` the wait for a worker. */
  stage: string;
  count: number;
  medianMs: number;
  p90Ms: number;
  /** Counts per bucket; `leMs` is the bucket's upper bound (the last one is open: null). */
  histogram: { leMs: number | null; count: number }[];
}

/** `GET /v1/stats/history`. */
export interface HistoryReport {
  windowMs: number;
  bucketMs: number;
  throughput: ThroughputBucket[];
  failures: FailureGroup[];
  distributions: Distribution[];
}

/** `GET /v1/client-metrics`: what browsers reported about their own delivery. */
export interface ClientHealthSummary {
  windowMs: number;
  reports: number;
  /** Shares of reported time, 0–1; null before any report. */
  liveShare: number | null;
  pollingShare: number | null;
  offlineShare: number | null;
  worstStalenessMs: number | null;
  reconnects: number;
  perMinute: { at: string; reports: number; liveShare: number | null; worstStalenessMs: number }[];
}
