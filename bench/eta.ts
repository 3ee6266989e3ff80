// ETA, health and queue-wait accuracy (issue 11). Synthetic but realistic workloads are fed
// through the REAL task service and SQLite store (in memory) on a SIMULATED clock: every report,
// completion, health check and read happens at its simulated instant, so hours of tasks take
// seconds and every run with the same seed gives the same figures.
// Run: npx tsx --conditions=@taskpulse/source bench/eta.ts [--tasks 400] [--warmup 60] [--seed 1] [--health-tasks 2000] [--queue-tasks 300]
// (--health-tasks: a second run per type, without ETA reads, for the health figures: false alarms
// are rare, so they need thousands of tasks; 0 uses the accuracy run's tasks. ETA_DEBUG=1 prints
// each stuck and slow task, each healthy task flagged, and the fitted models to stderr.)
// Prints a table, then one JSON line.
import { fileURLToPath } from 'node:url';
import { computePercent, type Task } from '@taskpulse/protocol';
import { SqliteStore } from '../packages/server/src/store/sqlite/index.ts';
import { HistoryCache } from '../packages/server/src/eta/history.ts';
import { DEFAULT_HEALTH, stagePace } from '../packages/server/src/eta/eta.ts';
import { normalCdf, normalQuantile } from '../packages/server/src/eta/lognormal.ts';
import { composeTasks } from '../packages/server/src/tasks/compose.ts';
import { estimate as legacyEstimate, summarize as legacySummarize } from './eta-legacy.ts';
import { seededRandom } from '../test-support/seeded-random.ts';

// ---------------------------------------------------------------- workloads

interface StageSpec {
  key: string;
  weight: number;
  /** Median ms of the stage, or per item when `items` scale it. */
  medianMs: number;
  sigma: number;
  /** Items reported as done/total: a log-normal count, or a fixed count; none: no progress inside. */
  items?: { median: number; sigma: number; scales: boolean } | { fixed: number; scales: false };
  /** Reuse the item count of an earlier stage (pages parsed, then indexed). */
  sameItemsAs?: string;
}
interface TypeSpec {
  type: string;
  /** Empty: a task without stages; `whole` then describes it. */
  stages: StageSpec[];
  whole?: StageSpec;
  /** Items per report when the worker reports in batches. */
  batch?: number;
  /** Per-task speed shared by all its stages (a big or tricky input is slow throughout). */
  taskSigma?: number;
}

// Weights deliberately do not match durations (a "parse" weighted 3 takes ~8× "fetch" weighted 1).
export const TYPES: TypeSpec[] = [
  {
    type: 'pdf-import',
    stages: [
      { key: 'fetch', weight: 1, medianMs: 1500, sigma: 0.3 },
      { key: 'parse', weight: 3, medianMs: 350, sigma: 0.25, items: { median: 40, sigma: 0.6, scales: true } },
      { key: 'index', weight: 1, medianMs: 60, sigma: 0.3, sameItemsAs: 'parse', items: { median: 40, sigma: 0.6, scales: true } },
    ],
  },
  {
    type: 'ai-search',
    stages: [
      { key: 'plan', weight: 1, medianMs: 4000, sigma: 0.35 },
      { key: 'search', weight: 2, medianMs: 1200, sigma: 0.3, items: { median: 10, sigma: 0.3, scales: true } },
      { key: 'summarize', weight: 2, medianMs: 9000, sigma: 0.3, items: { fixed: 5, scales: false } },
    ],
  },
  {
    type: 'export',
    stages: [],
    whole: { key: '*', weight: 1, medianMs: 4, sigma: 0.2, items: { median: 2000, sigma: 0.8, scales: true } },
    batch: 100,
  },
  {
    type: 'submit',
    stages: [
      { key: 'validate', weight: 1, medianMs: 500, sigma: 0.4 },
      { key: 'login', weight: 1, medianMs: 3000, sigma: 0.5 },
      { key: 'submit', weight: 5, medianMs: 2500, sigma: 0.35, items: { median: 12, sigma: 0.5, scales: true } },
      { key: 'verify', weight: 2, medianMs: 800, sigma: 0.3, sameItemsAs: 'submit', items: { median: 12, sigma: 0.5, scales: true } },
      { key: 'report', weight: 1, medianMs: 1500, sigma: 0.2 },
    ],
  },
  {
    // Machine-bound work varies little: here a 2× slow stage stands out from healthy noise.
    type: 'render',
    taskSigma: 0.05,
    stages: [
      { key: 'prepare', weight: 1, medianMs: 2000, sigma: 0.1 },
      { key: 'frames', weight: 8, medianMs: 120, sigma: 0.12, items: { median: 150, sigma: 0.4, scales: true } },
      { key: 'upload', weight: 1, medianMs: 3000, sigma: 0.15 },
    ],
  },
];

const TASK_SIGMA = 0.15;
const OUTLIER_SHARE = 0.05;
const DRIFT = 1.3;
const THROTTLE_MS = 250;

export function rngFor(seed: number) {
  return rng(seed);
}
function rng(seed: number) {
  const next = seededRandom(seed);
  const normal = () => Math.sqrt(-2 * Math.log(1 - next())) * Math.cos(2 * Math.PI * next());
  return { next, normal, logNormal: (median: number, sigma: number) => median * Math.exp(sigma * normal()) };
}
type Rng = ReturnType<typeof rng>;

type Kind = 'normal' | 'outlier' | 'slow' | 'stuck';
interface Report {
  t: number;
  stage?: string;
  done?: number;
  total?: number;
}
interface Trace {
  spec: TypeSpec;
  kind: Kind;
  durationMs: number;
  reports: Report[];
  /** Stage boundaries [start, end) in ms from the start, per stage index (one for a stageless task). */
  stageSpans: [number, number][];
  /** stuck: when the worker stops moving; slow: which stage runs 2× slow. */
  stopAtMs?: number;
  slowStage?: number;
}

/** One task's whole life, drawn in advance: when it reports what, and when it ends. */
export function drawTrace(spec: TypeSpec, r: Rng, kind: Kind, drift: number): Trace {
  const stages = spec.stages.length > 0 ? spec.stages : [spec.whole!];
  const taskFactor = Math.exp((spec.taskSigma ?? TASK_SIGMA) * r.normal()) * drift;
  const outlierStage = kind === 'outlier' ? Math.floor(r.next() * stages.length) : -1;
  const slowStage = kind === 'slow' ? Math.floor(r.next() * stages.length) : -1;
  const counts = new Map<string, number>();
  const reports: Report[] = [];
  const spans: [number, number][] = [];
  let t = 0;
  stages.forEach((s, i) => {
    let n: number | null = null;
    if (s.items) {
      n = 'fixed' in s.items ? s.items.fixed : s.sameItemsAs ? counts.get(s.sameItemsAs)! : Math.max(1, Math.round(r.logNormal(s.items.median, s.items.sigma)));
      counts.set(s.key, n);
    }
    const scale = s.items && s.items.scales && n !== null ? n : 1;
    let d = r.logNormal(s.medianMs * scale, s.sigma) * taskFactor;
    if (i === outlierStage) d *= 3 + 7 * r.next();
    if (i === slowStage) d *= 2;
    const start = t;
    if (i > 0) reports.push({ t, stage: s.key, ...(n !== null ? { done: 0, total: n } : {}) });
    else if (n !== null) reports.push({ t: t + 1, done: 0, total: n });
    if (n !== null) {
      // Uneven progress: item times are skewed, and now and then the worker pauses.
      const w = Array.from({ length: n }, () => Math.exp(0.5 * r.normal()) * (r.next() < 0.08 ? 4 : 1));
      const sum = w.reduce((a, b) => a + b, 0);
      let at = t;
      let lastSent = t;
      let pending: Report | null = null;
      const batch = spec.batch ?? 1;
      for (let k = 0; k < n; k++) {
        at = k + 1 === n ? t + d : Math.min(t + d, at + (d * w[k]!) / sum);
        if (pending && pending.t + 0 <= at) {
          reports.push(pending);
          lastSent = pending.t;
          pending = null;
        }
        if ((k + 1) % batch !== 0 && k + 1 !== n) continue;
        // The worker SDK coalesces: at most one send per THROTTLE_MS, the latest value wins.
        if (at - lastSent >= THROTTLE_MS) {
          reports.push({ t: at, done: k + 1 });
          lastSent = at;
        } else pending = { t: lastSent + THROTTLE_MS, done: k + 1 };
      }
      if (pending) reports.push({ t: Math.min(pending.t, t + d), done: pending.done });
    }
    t += d;
    spans.push([start, t]);
  });
  const trace: Trace = { spec, kind, durationMs: t, reports: reports.sort((a, b) => a.t - b.t), stageSpans: spans };
  if (kind === 'slow') trace.slowStage = slowStage;
  if (kind === 'stuck') {
    trace.stopAtMs = t * (0.2 + 0.6 * r.next());
    trace.reports = trace.reports.filter((x) => x.t < trace.stopAtMs!);
  }
  return trace;
}

// ---------------------------------------------------------------- the simulation

class Clock {
  now = Date.parse('2026-01-01T00:00:00Z');
}

class Agenda {
  #items: { t: number; n: number; fn: () => Promise<void> | void }[] = [];
  #n = 0;
  at(t: number, fn: () => Promise<void> | void) {
    const item = { t, n: this.#n++, fn };
    // binary insert (the agenda is mostly appended near its end)
    let lo = 0;
    let hi = this.#items.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      const m = this.#items[mid]!;
      if (m.t < t || (m.t === t && m.n < item.n)) lo = mid + 1;
      else hi = mid;
    }
    this.#items.splice(lo, 0, item);
  }
  async run(clock: Clock, until = Infinity) {
    while (this.#items.length > 0 && this.#items[0]!.t <= until) {
      const item = this.#items.shift()!;
      clock.now = Math.max(clock.now, item.t);
      await item.fn();
    }
  }
  get size() {
    return this.#items.length;
  }
}

async function world() {
  const clock = new Clock();
  const now = () => clock.now;
  const store = new SqliteStore({ file: ':memory:' });
  const history = new HistoryCache(store, { now });
  const { service, reader, health: checks } = composeTasks({ store, history, now, leaseMs: 3_600_000, health: DEFAULT_HEALTH, waitForEvent: async () => {} });
  /** First simulated time each task was seen with each health. */
  const healthSeen = new Map<string, Map<string, number>>();
  const usualAtStuck = new Map<string, number | null>();
  const paceAtStuck = new Map<string, number>();
  store.onCommit((events) => {
    for (const e of events) {
      if (e.type !== 'task.updated' || !e.taskId || !(e.json.includes('"health":"slow"') || e.json.includes('"health":"stuck"'))) continue;
      const task = (JSON.parse(e.json) as { task: Task }).task;
      const h = task.health!;
      const m = healthSeen.get(e.taskId) ?? new Map<string, number>();
      if (!m.has(h)) m.set(h, clock.now);
      healthSeen.set(e.taskId, m);
      // The usual gap the server went by when it flagged `stuck` (it may have moved since the stop;
      // the task's own, which falls by ≤ 3 % while it is quiet: the stage's ring may fall more).
      if (h === 'stuck' && !usualAtStuck.has(e.taskId)) {
        const id = e.taskId;
        usualAtStuck.set(id, history.gaps.usual(task.type, task.stage?.key ?? '*'));
        // ...and how much slower than usual the task ran that stage (its gaps were that much longer).
        queueMicrotask(async () => {
          const rec = await store.tasks.get(id);
          if (!rec) return;
          paceAtStuck.set(id, stagePace(rec, history.get(rec.type)));
          usualAtStuck.set(id, history.gaps.usualFor(rec.type, rec.stageIndex >= 0 ? rec.stages[rec.stageIndex]!.key : '*', rec));
        });
      }
    }
  });
  return { clock, store, history, service, reader, checks, healthSeen, usualAtStuck, paceAtStuck };
}

const STUCK_FACTORS = [2, 2.5, 2.75, 3, 3.5, 4, 5];
const ADMIN = { role: 'admin' as const, keyId: null };
export const CHECKPOINTS = [0.1, 0.25, 0.5, 0.75, 0.9] as const;
const METHODS = ['taskpulse', 'before', 'linear', 'median', 'ema'] as const;
type Method = (typeof METHODS)[number];

interface Read {
  type: string;
  checkpoint: number;
  index: number;
  truth: number;
  pred: Record<Method, number | null>;
  low: number | null;
  high: number | null;
  kind: Kind;
  afterDrift: number | null;
}

/** Runs every type's tasks (a few at a time) and reads every ETA at the checkpoints. */
async function accuracyRun(opts: { tasks: number; warmup: number; seed: number; reads?: boolean }) {
  const { clock, store, history, service, reader, checks, healthSeen, usualAtStuck, paceAtStuck } = await world();
  const agenda = new Agenda();
  const r = rng(opts.seed);
  const reads: Read[] = [];
  const health: { type: string; kind: Kind; trace: Trace; startAt: number; id: string; index: number; usualGapMs?: number | null; paceAtStop?: number; quietPast: Set<number> }[] = [];
  const total = opts.warmup + opts.tasks;
  const driftAt = opts.warmup + Math.floor(opts.tasks / 2);
  const tStart = clock.now;
  let active = 0;

  // Health is re-assessed as the server does it: a full scan every 5 s, health deadlines every 250 ms.
  let stopTicks = false;
  const tick = (every: number, fn: () => Promise<void>) => {
    const loop = async () => {
      await fn();
      if (!stopTicks) agenda.at(clock.now + every, loop);
    };
    agenda.at(clock.now + every, loop);
  };
  tick(5000, () => checks.checkHealth());
  tick(250, () => checks.checkDeadlines());

  for (const spec of TYPES) {
    const wholeDurations: number[] = [];
    let legacyHistory = legacySummarize([]);
    let legacyAge = Infinity;
    let next = 0;
    const startNext = async () => {
      if (next >= total) return;
      const index = next++;
      const measured = index >= opts.warmup;
      const u = r.next();
      const kind: Kind = !measured ? (u < OUTLIER_SHARE ? 'outlier' : 'normal') : u < OUTLIER_SHARE ? 'outlier' : u < OUTLIER_SHARE + 0.02 ? 'slow' : u < OUTLIER_SHARE + 0.035 ? 'stuck' : 'normal';
      const trace = drawTrace(spec, r, kind, index >= driftAt ? DRIFT : 1);
      const created = await service.create(ADMIN, {
        type: spec.type, owner: 'u', start: true, leaseMs: 3_600_000, ...(spec.stages.length > 0 ? { stages: spec.stages.map((s) => ({ key: s.key, weight: s.weight })) } : {}),
      }, null);
      const id = created.task.id;
      const lease = created.lease!.token;
      const t0 = clock.now;
      active++;
      const h = { type: spec.type, kind, trace, startAt: t0, id, index, usualGapMs: null as number | null, paceAtStop: 1, quietPast: new Set<number>() };
      if (measured) health.push(h);
      if (kind === 'stuck') {
        // The usual gap the server knew in the stage where the worker stopped moving.
        agenda.at(t0 + trace.stopAtMs!, async () => {
          const rec = (await store.tasks.get(id))!;
          h.usualGapMs = history.gaps.usual(spec.type, rec.stageIndex >= 0 ? rec.stages[rec.stageIndex]!.key : '*');
          h.paceAtStop = stagePace(rec, history.get(spec.type));
        });
      }
      if (opts.reads !== false && legacyAge++ > 5) {
        legacyHistory = legacySummarize(await store.history.stageRuns(spec.type, 4000));
        legacyAge = 0;
      }
      // Baselines' state, fed by the same reports.
      const weights = spec.stages.map((s) => s.weight);
      const st = { stageIndex: spec.stages.length > 0 ? 0 : -1, done: null as number | null, total: null as number | null };
      let ema: number | null = null;
      let lastP = 0;
      let lastT = t0;
      // The longest quiet of this task in units of its stage's usual gap as the server knew it
      // then: how often a healthy task would be flagged `stuck` at any factor (stuckMargins).
      let lastMoveT = t0;
      const quiet = () => {
        const usual = history.gaps.usual(spec.type, spec.stages[st.stageIndex]?.key ?? '*');
        if (usual !== null) for (const k of STUCK_FACTORS) if (clock.now - lastMoveT > Math.max(3000, k * usual)) h.quietPast.add(k);
        lastMoveT = clock.now;
      };
      if (kind !== 'stuck') agenda.at(t0 + trace.durationMs, quiet);
      for (const rep of trace.reports) {
        agenda.at(t0 + rep.t, async () => {
          quiet();
          if (rep.stage !== undefined) {
            st.stageIndex = spec.stages.findIndex((s) => s.key === rep.stage);
            st.done = st.total = null;
          }
          if (rep.total !== undefined) st.total = rep.total;
          if (rep.done !== undefined) st.done = rep.done;
          await service.progress(id, { lease, ...(rep.stage ? { stage: rep.stage } : {}), ...(rep.done !== undefined ? { done: rep.done } : {}), ...(rep.total !== undefined ? { total: rep.total } : {}) });
          const p = computePercent({ weights, stageIndex: st.stageIndex, done: st.done, total: st.total }) ?? 0;
          const dt = clock.now - lastT;
          if (dt > 0 && p >= lastP) {
            const inst = (p - lastP) / dt;
            ema = ema === null ? inst : 0.3 * inst + 0.7 * ema;
            lastP = p;
            lastT = clock.now;
          }
        });
      }
      if (measured && kind !== 'stuck' && opts.reads !== false) {
        for (const c of CHECKPOINTS) {
          agenda.at(t0 + c * trace.durationMs, async () => {
            const rec = (await store.tasks.get(id))!;
            const task = await reader.present(rec);
            const elapsed = clock.now - t0;
            const p = (task.progress.percent ?? 0) / 100;
            const med = wholeDurations.length ? sortedMedian(wholeDurations.slice(-200)) : null;
            const legacy = legacyEstimate(rec, legacyHistory, clock.now);
            reads.push({
              type: spec.type, checkpoint: c, index, kind,
              truth: trace.durationMs - elapsed,
              pred: {
                taskpulse: task.eta?.remainingMs ?? null,
                before: legacy?.remainingMs ?? null,
                linear: p > 0 ? (elapsed * (1 - p)) / p : null,
                median: med === null ? null : Math.max(0, med - elapsed),
                ema: ema !== null && ema > 0 ? (100 - lastP) / ema - (clock.now - lastT) : null,
              },
              low: task.eta?.lowMs ?? null,
              high: task.eta?.highMs ?? null,
              afterDrift: index >= driftAt ? index - driftAt : null,
              ...(process.env.ETA_DUMP ? { stage: task.stage?.key, done: task.progress.done, total: task.progress.total, basis: task.eta?.basis } : {}),
            });
          });
        }
      }
      const end = async () => {
        if (kind === 'stuck') await service.fail(id, { lease, error: { message: 'gave up' } });
        else {
          await service.complete(id, lease, null);
          wholeDurations.push(trace.durationMs);
        }
        active--;
        await startNext();
      };
      agenda.at(t0 + (kind === 'stuck' ? trace.stopAtMs! + 120_000 : trace.durationMs), end);
    };
    // A few tasks of each type run at once, each worker starting the next when one ends.
    for (let w = 0; w < 3; w++) agenda.at(clock.now + w * 700, startNext);
  }
  while (agenda.size > 0) {
    await agenda.run(clock, clock.now + 60_000);
    if (active === 0) stopTicks = true;
    if (stopTicks && agenda.size <= 2) break;
  }
  if (process.env.ETA_DEBUG) for (const t of TYPES) for (const [k, v] of history.get(t.type)) console.error('model', t.type, k, v.count, JSON.stringify(v.whole), JSON.stringify(v.perUnit));
  await store.close();
  return { reads, health, healthSeen, usualAtStuck, paceAtStuck, simulatedMs: clock.now - tStart };
}

function sortedMedian(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}
function q(xs: number[], p: number): number | null {
  if (xs.length === 0) return null;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(p * s.length))]!;
}
const err = (pred: number, truth: number) => Math.abs(pred - truth) / Math.max(truth, 1);

function accuracyFigures(reads: Read[]) {
  const byCheckpoint = CHECKPOINTS.map((c) => {
    const mine = reads.filter((x) => x.checkpoint === c);
    const answered = mine.filter((x) => x.pred.taskpulse !== null);
    const methods = Object.fromEntries(
      METHODS.map((m) => {
        // Compared on the reads where TaskPulse gave an ETA and this method gave one too.
        const e = answered.filter((x) => x.pred[m] !== null).map((x) => err(x.pred[m]!, x.truth));
        return [m, { median: round(q(e, 0.5)), p90: round(q(e, 0.9)) }];
      }),
    ) as Record<Method, { median: number | null; p90: number | null }>;
    const inBand = answered.filter((x) => x.truth >= x.low! && x.truth <= x.high!).length;
    const widths = answered.map((x) => (x.high! - x.low!) / Math.max(x.truth, 1));
    return {
      checkpoint: c,
      reads: mine.length,
      noEta: round(1 - answered.length / Math.max(1, mine.length)),
      ...methods,
      coverage: round(inBand / Math.max(1, answered.length)),
      bandWidth: round(q(widths, 0.5)),
      below: round(answered.filter((x) => x.truth < x.low!).length / Math.max(1, answered.length)),
      above: round(answered.filter((x) => x.truth > x.high!).length / Math.max(1, answered.length)),
    };
  });
  // Drift: median error at 50 % of the runs 1-10, 11-20, 21-40 after the type got 30 % slower.
  const at50 = reads.filter((x) => x.checkpoint === 0.5 && x.pred.taskpulse !== null);
  const window = (lo: number, hi: number) =>
    round(q(at50.filter((x) => x.afterDrift !== null && x.afterDrift >= lo && x.afterDrift < hi).map((x) => err(x.pred.taskpulse!, x.truth)), 0.5));
  // Signed: how far the ETA is short (< 0) of the truth, median, as the type gets slower.
  const bias = (lo: number, hi: number) =>
    round(q(at50.filter((x) => (lo < 0 ? x.afterDrift === null : x.afterDrift !== null && x.afterDrift >= lo && x.afterDrift < hi)).map((x) => (x.pred.taskpulse! - x.truth) / Math.max(1, x.truth)), 0.5));
  const drift = {
    bias: { before: bias(-1, 0), runs1to5: bias(0, 5), runs6to10: bias(5, 10), runs11to20: bias(10, 20), runs21to40: bias(20, 40) },
    before: round(q(at50.filter((x) => x.afterDrift === null).map((x) => err(x.pred.taskpulse!, x.truth)), 0.5)),
    runs1to10: window(0, 10),
    runs11to20: window(10, 20),
    runs21to40: window(20, 40),
  };
  const perType = Object.fromEntries(
    TYPES.map((t) => {
      const e = at50.filter((x) => x.type === t.type).map((x) => err(x.pred.taskpulse!, x.truth));
      return [t.type, round(q(e, 0.5))];
    }),
  );
  return { byCheckpoint, drift, medianErrorAt50ByType: perType };
}

function healthFigures(run: Awaited<ReturnType<typeof accuracyRun>>) {
  const stuckDelays: number[] = [];
  const stuckInGaps: number[] = [];
  const stuckAtFloor: number[] = [];
  const stuckInOwnGaps: number[] = [];
  const stuckInOwnGapsAtFlag: number[] = [];
  let stuckMissed = 0;
  const slowDelays: number[] = [];
  let slowInStage = 0;
  let slowTotal = 0;
  const slowByType: Record<string, [number, number]> = {};
  let healthyFlagged = 0;
  const healthySlow: string[] = [];
  const healthyStuck: string[] = [];
  let healthy = 0;
  let outliersFlagged = 0;
  let outliers = 0;
  for (const h of run.health) {
    const seen = run.healthSeen.get(h.id);
    if (h.kind === 'stuck') {
      const at = seen?.get('stuck');
      if (at === undefined) stuckMissed++;
      else {
        stuckDelays.push(at - (h.startAt + h.trace.stopAtMs!));
        // In usual gaps (as the server knew it when it flagged) where 3× the gap is the limit;
        // where the 3 s floor is, in ms apart.
        const usual = run.usualAtStuck.get(h.id) ?? h.usualGapMs;
        if (usual && 3 * usual >= DEFAULT_HEALTH.stuckMinMs) {
          stuckInGaps.push((at - (h.startAt + h.trace.stopAtMs!)) / usual);
          // The task's own usual gap: the type's × its pace in the stage. Both are re-estimated
          // from other tasks while this one is quiet (the p99 of 512 gaps jumps when a long gap
          // leaves the ring), so the limit can move under a quiet already under way: measured
          // against the larger of the limits in force when it stopped and when it was flagged,
          // and against the one at the flag alone.
          const delay = at - (h.startAt + h.trace.stopAtMs!);
          const atFlag = usual * (run.paceAtStuck.get(h.id) ?? 1);
          const atStop = h.usualGapMs ? h.usualGapMs * (h.paceAtStop ?? 1) : 0;
          stuckInOwnGaps.push(delay / Math.max(atFlag, atStop));
          stuckInOwnGapsAtFlag.push(delay / atFlag);
        }
        else if (usual) stuckAtFloor.push(at - (h.startAt + h.trace.stopAtMs!));
        if (process.env.ETA_DEBUG) console.error('stuck', h.type, h.usualGapMs, run.usualAtStuck.get(h.id), at - (h.startAt + h.trace.stopAtMs!));
      }
    } else if (h.kind === 'slow') {
      slowTotal++;
      const [s, e] = h.trace.stageSpans[h.trace.slowStage!]!;
      const at = seen?.get('slow');
      const t = (slowByType[h.type] ??= [0, 0]);
      t[1]++;
      if (process.env.ETA_DEBUG) console.error('slow', h.type, h.trace.slowStage, Math.round(s), Math.round(e), at === undefined ? null : Math.round(at - h.startAt), [...(seen?.keys() ?? [])].join());
      if (at !== undefined && at >= h.startAt + s && at <= h.startAt + e) {
        slowInStage++;
        t[0]++;
        slowDelays.push((at - h.startAt - s) / (e - s));
      }
    } else if (h.kind === 'outlier') {
      outliers++;
      if (seen?.get('slow') !== undefined) outliersFlagged++;
    } else {
      healthy++;
      if (seen && seen.size > 0) healthyFlagged++;
      if (seen?.has('slow')) healthySlow.push(h.type);
      if (seen?.has('stuck')) healthyStuck.push(h.type);
      if (seen?.has('slow') && process.env.ETA_DEBUG) console.error('healthy slow', h.type, h.index, Math.round(seen.get('slow')! - h.startAt), JSON.stringify(h.trace.stageSpans.map(([a, b]) => [Math.round(a), Math.round(b)])), JSON.stringify(h.trace.reports.filter((x) => x.total !== undefined)));
      if (seen?.has('stuck') && process.env.ETA_DEBUG) {
        const at = seen.get('stuck')! - h.startAt;
        const before = h.trace.reports.filter((x) => x.t <= at).slice(-3);
        const after = h.trace.reports.find((x) => x.t > at);
        console.error('healthy stuck', h.type, h.index, at, JSON.stringify(before), JSON.stringify(after), JSON.stringify(h.trace.stageSpans));
      }
    }
  }
  // Healthy tasks whose longest quiet passed k × the usual gap (≥ 3 s), for k around the one used.
  const stuckMargins = Object.fromEntries(STUCK_FACTORS.map((k) => [k, run.health.filter((h) => h.kind === 'normal' && h.quietPast.has(k)).length]));
  return {
    stuckMargins,
    stuck: {
      tasks: stuckDelays.length + stuckMissed, missed: stuckMissed, medianDelayMs: round(q(stuckDelays, 0.5)), maxDelayMs: round(q(stuckDelays, 1)),
      /** Delay in units of the usual (p99) gap between moves of that type and stage. */
      medianDelayInUsualGaps: round(q(stuckInGaps, 0.5)), maxDelayInUsualGaps: round(q(stuckInGaps, 1)), inUsualGapsOf: stuckInGaps.length,
      /** The same in the task's own usual gap: the type's × how much slower it ran the stage (1–2). */
      medianDelayInOwnGaps: round(q(stuckInOwnGaps, 0.5)), maxDelayInOwnGaps: round(q(stuckInOwnGaps, 1)),
      /** The same against the limit as re-estimated when it was flagged (it may have dropped meanwhile). */
      medianDelayInOwnGapsAtFlag: round(q(stuckInOwnGapsAtFlag, 0.5)), maxDelayInOwnGapsAtFlag: round(q(stuckInOwnGapsAtFlag, 1)), overThreeAtFlag: stuckInOwnGapsAtFlag.filter((x) => x > 3).length,
      /** Stages whose 3× usual gap is under the 3 s floor: delay in ms. */
      atFloor: stuckAtFloor.length, atFloorMaxDelayMs: round(q(stuckAtFloor, 1)),
    },
    slow: { tasks: slowTotal, flaggedWhileSlowStageRuns: slowInStage, medianAtShareOfStage: round(q(slowDelays, 0.5)), byType: slowByType },
    healthy: { tasks: healthy, flagged: healthyFlagged, rate: Math.round((healthyFlagged / Math.max(1, healthy)) * 1e5) / 1e5, rateUpper95: upper95(healthyFlagged, healthy), slow: healthySlow.length, stuck: healthyStuck.length, types: [...new Set([...healthySlow, ...healthyStuck])] },
    outliers: { tasks: outliers, flaggedSlow: outliersFlagged },
  };
}

// ---------------------------------------------------------------- how well `slow` could do at all

/**
 * The best any rule could do at telling a 2× stage, with under 1 in 1,000 healthy tasks flagged,
 * on these workloads — computed, not simulated, from what the traces are drawn from, as if the
 * stage medians, spreads and the per-task factor were known exactly. A stage's ln(duration /
 * median) is the task's factor (σ τ, shared by its stages) plus the stage's own noise (σ_s);
 * a 2× stage adds ln 2. The strongest evidence is the stage's whole duration (its pace inside the
 * stage is that duration spread over uneven items: it can only know less, and sooner); a task
 * flagged past c standard deviations in any of its k stages is a false alarm in 1 − Φ(c)^k of
 * healthy tasks, so c = Φ⁻¹((1 − 1/1000)^(1/k)). Judged against the type's history alone the
 * spread is √(σ_s² + τ²); normalized by this task's own pace in its earlier stages (the best
 * estimate of its factor from them) it is √(σ_s² + v), v the factor's remaining variance.
 */
export function slowSeparation() {
  const LN2 = Math.log(2);
  return TYPES.map((spec) => {
    const stages = spec.stages.length > 0 ? spec.stages : [spec.whole!];
    const tau = spec.taskSigma ?? TASK_SIGMA;
    const c = normalQuantile((1 - 0.001) ** (1 / stages.length));
    let precision = 1 / tau ** 2;
    const per = stages.map((s) => {
      const alone = Math.sqrt(s.sigma ** 2 + tau ** 2);
      const normalized = Math.sqrt(s.sigma ** 2 + 1 / precision);
      precision += 1 / s.sigma ** 2;
      return { stage: s.key, sigma: s.sigma, typeOnly: round(1 - normalCdf(c - LN2 / alone)), ownPace: round(1 - normalCdf(c - LN2 / normalized)) };
    });
    const mean = (k: 'typeOnly' | 'ownPace') => round(per.reduce((a, x) => a + x[k]!, 0) / per.length);
    return {
      type: spec.type, z: round(c), stages: per, typeOnly: mean('typeOnly'), ownPace: mean('ownPace'),
      /** The spread (after normalizing) below which a 2× stage is told half the time, and 90 % of the time. */
      sigmaForHalf: round(LN2 / c), sigmaFor90: round(LN2 / (c + normalQuantile(0.9))),
    };
  });
}

// ---------------------------------------------------------------- queue wait

async function queueRun(workers: number, tasks: number, seed: number) {
  const { clock, store, service, checks } = await world();
  const agenda = new Agenda();
  const r = rng(seed);
  const spec = TYPES[1]!; // ai-search: ~25 s
  const meanMs = 30_000;
  const results: { est: number | null; before: number | null; actual: number }[] = [];
  const createdAt = new Map<string, { t: number; est: number | null; before: number | null; measured: boolean }>();
  let free = workers;
  let finished = 0;
  let stop = false;
  const loop = async () => {
    await checks.checkHealth();
    if (!stop) agenda.at(clock.now + 5000, loop);
  };
  agenda.at(clock.now, loop);
  // before issue 11: position × median run / running tasks of the type
  const runningNow = new Set<string>();
  const wholes: number[] = [];
  const work = async () => {
    if (free === 0) return;
    const claimed = await service.claim([spec.type], 3_600_000, 0);
    if (!claimed) return;
    free--;
    const id = claimed.task.id;
    const c = createdAt.get(id)!;
    if (c.measured) results.push({ est: c.est, before: c.before, actual: clock.now - c.t });
    const trace = drawTrace(spec, r, r.next() < OUTLIER_SHARE ? 'outlier' : 'normal', 1);
    const lease = claimed.lease.token;
    const t0 = clock.now;
    runningNow.add(id);
    for (const rep of trace.reports) {
      agenda.at(t0 + rep.t, async () => {
        await service.progress(id, { lease, ...(rep.stage ? { stage: rep.stage } : {}), ...(rep.done !== undefined ? { done: rep.done } : {}), ...(rep.total !== undefined ? { total: rep.total } : {}) });
      });
    }
    agenda.at(t0 + trace.durationMs, async () => {
      await service.complete(id, lease, null);
      runningNow.delete(id);
      wholes.push(trace.durationMs);
      free++;
      finished++;
      await work();
    });
  };
  const warm = 40;
  let t = clock.now;
  for (let i = 0; i < warm + tasks; i++) {
    // Poisson arrivals at 90 % of what the workers can do.
    t += -Math.log(1 - r.next()) * (meanMs / workers / 0.9);
    const measured = i >= warm;
    agenda.at(t, async () => {
      const created = await service.create(ADMIN, { type: spec.type, owner: 'u', stages: spec.stages.map((s) => ({ key: s.key, weight: s.weight })) }, null);
      const pos = created.task.queue?.position ?? 1;
      const med = wholes.length ? sortedMedian(wholes.slice(-200)) : null;
      createdAt.set(created.task.id, {
        t: clock.now, est: created.task.queue?.estimatedWaitMs ?? null, measured,
        before: med === null ? null : Math.round((pos * med) / Math.max(1, runningNow.size)),
      });
      await work();
    });
  }
  while (finished < warm + tasks && agenda.size > 0) await agenda.run(clock, clock.now + 60_000);
  stop = true;
  await store.close();
  // Error as a share of a typical run (a wait is often 0, so its own size cannot be the unit).
  const typical = sortedMedian(wholes);
  const e = (m: 'est' | 'before') => results.filter((x) => x[m] !== null).map((x) => Math.abs(x[m]! - x.actual) / typical);
  return {
    workers,
    tasks: results.length,
    medianWaitMs: q(results.map((x) => x.actual), 0.5),
    taskpulse: { median: round(q(e('est'), 0.5)), p90: round(q(e('est'), 0.9)), answered: round(e('est').length / Math.max(1, results.length)) },
    before: { median: round(q(e('before'), 0.5)), p90: round(q(e('before'), 0.9)) },
  };
}

// ---------------------------------------------------------------- report

const round = (x: number | null) => (x === null ? null : Math.round(x * 1000) / 1000);
const pct = (x: number | null) => (x === null ? '—' : `${(x * 100).toFixed(1)}%`);

/**
 * Upper 95 % bound of a rate seen `k` times in `n` (Poisson, one-sided): with 0 of 3,000 the
 * rate may still be 1 in 1,000.
 */
function upper95(k: number, n: number): number | null {
  const table = [3.0, 4.74, 6.3, 7.75, 9.15, 10.51, 11.84, 13.15, 14.43, 15.71, 16.96];
  if (n === 0) return null;
  return Math.round(((k < table.length ? table[k]! : k + 1.645 * Math.sqrt(k) + 1) / n) * 1e5) / 1e5;
}

export async function runEtaBench(opts: { tasks: number; warmup: number; seed: number; queueTasks: number; workers: number[]; healthTasks?: number }) {
  const t0 = performance.now();
  const run = await accuracyRun(opts);
  const accuracy = accuracyFigures(run.reads);
  if (process.env.ETA_DUMP) (await import('node:fs')).writeFileSync(process.env.ETA_DUMP, JSON.stringify(run.reads));
  // False alarms are rare: a second, larger run without ETA reads measures health alone.
  const healthRun = opts.healthTasks ? await accuracyRun({ tasks: opts.healthTasks, warmup: opts.warmup, seed: opts.seed + 1000, reads: false }) : run;
  const health = { ...healthFigures(healthRun), slowSeparation: slowSeparation() };
  const queue = [];
  for (const w of opts.workers) queue.push(await queueRun(w, opts.queueTasks, opts.seed + w));
  return {
    bench: 'eta',
    clock: 'simulated',
    seed: opts.seed,
    tasksPerType: opts.tasks,
    healthTasksPerType: opts.healthTasks ?? opts.tasks,
    warmupPerType: opts.warmup,
    simulatedHours: round(run.simulatedMs / 3_600_000),
    wallSeconds: round((performance.now() - t0) / 1000),
    accuracy,
    health,
    queue,
  };
}

function printTable(out: Awaited<ReturnType<typeof runEtaBench>>) {
  const lines: string[] = [];
  lines.push(`remaining-time error (median / p90, share of the true remaining time); band = [lowMs, highMs]`);
  lines.push(`at    | no ETA | taskpulse     | before #11    | linear        | hist. median  | EMA rate      | band holds | below | above | width`);
  for (const c of out.accuracy.byCheckpoint) {
    const m = (k: Method) => `${pct(c[k].median).padStart(6)} / ${pct(c[k].p90).padStart(6)}`;
    lines.push(`${String(c.checkpoint * 100).padStart(3)} % | ${pct(c.noEta).padStart(6)} | ${m('taskpulse')} | ${m('before')} | ${m('linear')} | ${m('median')} | ${m('ema')} | ${pct(c.coverage).padStart(10)} | ${pct(c.below).padStart(5)} | ${pct(c.above).padStart(5)} | ${pct(c.bandWidth)}`);
  }
  const d = out.accuracy.drift;
  lines.push(`drift (+30 %), median error at 50 %: before ${pct(d.before)}, runs 1-10 ${pct(d.runs1to10)}, 11-20 ${pct(d.runs11to20)}, 21-40 ${pct(d.runs21to40)}; median signed error: before ${pct(d.bias.before)}, runs 1-5 ${pct(d.bias.runs1to5)}, 6-10 ${pct(d.bias.runs6to10)}, 11-20 ${pct(d.bias.runs11to20)}, 21-40 ${pct(d.bias.runs21to40)}`);
  lines.push(`median error at 50 % by type: ${Object.entries(out.accuracy.medianErrorAt50ByType).map(([k, v]) => `${k} ${pct(v)}`).join(', ')}`);
  const h = out.health;
  lines.push(`stuck: ${h.stuck.tasks - h.stuck.missed}/${h.stuck.tasks} flagged, median ${h.stuck.medianDelayMs} ms, max ${h.stuck.maxDelayMs} ms after progress stopped; in the type's usual gaps (${h.stuck.inUsualGapsOf} tasks) median ${h.stuck.medianDelayInUsualGaps}×, max ${h.stuck.maxDelayInUsualGaps}×; in the task's own (× its pace; the larger limit of the stop's and the flag's) median ${h.stuck.medianDelayInOwnGaps}×, max ${h.stuck.maxDelayInOwnGaps}× (the flag's alone: max ${h.stuck.maxDelayInOwnGapsAtFlag}×, ${h.stuck.overThreeAtFlag} over 3×); at the 3 s floor ${h.stuck.atFloor} tasks, max ${h.stuck.atFloorMaxDelayMs} ms`);
  lines.push(`healthy tasks whose longest quiet passed k × the usual gap (≥ 3 s): ${Object.entries(h.stuckMargins).map(([k, v]) => `${k}× ${v}`).join(', ')}`);
  lines.push(`slow (one stage 2×): ${h.slow.flaggedWhileSlowStageRuns}/${h.slow.tasks} flagged while that stage ran (median at ${pct(h.slow.medianAtShareOfStage)} of it); by type ${Object.entries(h.slow.byType).map(([k, [a, b]]) => `${k} ${a}/${b}`).join(', ')}`);
  lines.push(`slow, the best any rule could do (2× stage told by its end, < 1/1000 healthy flagged, medians and spreads known): ${h.slowSeparation.map((x) => `${x.type} ${pct(x.typeOnly)} by the type's history, ${pct(x.ownPace)} normalized by the task's own pace (z ${x.z}; σ for half ${x.sigmaForHalf})`).join('; ')}`);
  lines.push(`healthy tasks wrongly flagged: ${h.healthy.flagged}/${h.healthy.tasks} = ${(h.healthy.rate * 100).toFixed(3)}% (95 % upper bound ${((h.healthy.rateUpper95 ?? 0) * 100).toFixed(3)}%; slow ${h.healthy.slow}, stuck ${h.healthy.stuck}: ${h.healthy.types.join(', ')}); outliers (3-10× stage) flagged slow: ${h.outliers.flaggedSlow}/${h.outliers.tasks}`);
  lines.push(`queue wait error (share of a typical run, median / p90): ${out.queue.map((x) => `${x.workers}w ${pct(x.taskpulse.median)}/${pct(x.taskpulse.p90)} (before ${pct(x.before.median)}/${pct(x.before.p90)})`).join('; ')}`);
  console.log(lines.join('\n'));
}

function arg(name: string, dflt: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : dflt;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const out = await runEtaBench({
    tasks: arg('tasks', 400), warmup: arg('warmup', 60), seed: arg('seed', 1), queueTasks: arg('queue-tasks', 300), workers: [1, 2, 4, 8], healthTasks: arg('health-tasks', 2000),
  });
  printTable(out);
  console.log(JSON.stringify(out));
}
