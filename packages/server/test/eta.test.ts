/**
 * The ETA and health arithmetic with hand-made histories: pure functions, no server. What a
 * good estimate is on realistic workloads is measured by bench/eta.ts (docs/benchmarks.md).
 */
import { describe, expect, it } from 'vitest';
import * as model from '../src/tasks/model.ts';
import { DEFAULT_HEALTH, assessHealth, estimate, healthDeadline, stagePace, summarize, stuckLimitMs } from '../src/eta/eta.ts';
import { queueWaits } from '../src/eta/queue-wait.ts';
import { Deadlines } from '../src/tasks/deadlines.ts';
import { ReportGaps, kthSmallest } from '../src/eta/gaps.ts';
import type { StageRun, TaskRecord } from '../src/store/store.ts';

const T0 = Date.parse('2026-01-01T00:00:00Z');
const stages = [{ key: 'fetch' }, { key: 'parse', weight: 3 }];
const running = (s = stages) => model.claim(model.newTask({ type: 'pdf', owner: 'u', stages: s }, 'tsk_1', T0, null), 'lse_a', 600_000, T0).task;
const report = (t: TaskRecord, at: number, u: Omit<model.ProgressUpdate, 'lease'>) => model.progress(t, { lease: 'lse_a', ...u }, 600_000, at).task;
/** Runs of one stage, newest first (ended 1 s apart). */
const runs = (stage: string, ms: number[], size: (i: number) => number | null = () => null): StageRun[] =>
  ms.map((durationMs, i) => ({ type: 'pdf', stage, durationMs, size: size(i), endedAtMs: T0 - i * 1000 }));
const steady = (stage: string, ms: number, n: number) => runs(stage, Array.from({ length: n }, (_, i) => ms * (1 + ((i % 5) - 2) * 0.03)));
const inBand = (eta: { lowMs: number | null; highMs: number | null }, ms: number) => eta.lowMs! <= ms && ms <= eta.highMs!;

describe('estimate', () => {
  it('cold start: nothing to go on says nothing, then the pace alone speaks', () => {
    const t = running();
    expect(estimate(t, new Map(), T0 + 500)).toMatchObject({ remainingMs: null, basis: 'none' });
    // A quarter of fetch in 1 s: 3 s left of it, and parse (weight 3, never run) at the same pace per weight.
    const r = report(t, T0 + 1000, { done: 5, total: 20 });
    const eta = estimate(r, new Map(), T0 + 1000)!;
    expect(eta.basis).toBe('rate');
    expect(eta.remainingMs!).toBeGreaterThan(3000 + 12_000 * 0.7);
    expect(eta.remainingMs!).toBeLessThan((3000 + 12_000) * 1.3);
    expect(eta.lowMs!).toBeLessThan(eta.remainingMs!);
    expect(eta.highMs!).toBeGreaterThan(eta.remainingMs!);
    expect(Date.parse(eta.at!)).toBe(T0 + 1000 + eta.remainingMs!);
  });

  it('one run: used, with a wide band', () => {
    const history = summarize([...runs('fetch', [2000]), ...runs('parse', [6000])]);
    const eta = estimate(running(), history, T0)!;
    expect(eta.basis).toBe('history');
    expect(inBand(eta, 8000)).toBe(true);
    expect(eta.highMs! / eta.lowMs!).toBeGreaterThan(2);
  });

  it('many steady runs: close to their sum, with a narrow band that holds it', () => {
    const history = summarize([...steady('fetch', 2000, 40), ...steady('parse', 6000, 40)]);
    const eta = estimate(running(), history, T0)!;
    expect(Math.abs(eta.remainingMs! - 8000)).toBeLessThan(400);
    expect(inBand(eta, 8000)).toBe(true);
    expect(eta.highMs! / eta.lowMs!).toBeLessThan(1.6);
    // Halfway through fetch: about 7 s left.
    expect(Math.abs(estimate(running(), history, T0 + 1000)!.remainingMs! - 7000)).toBeLessThan(500);
  });

  it('outliers: a few 10× runs neither move the median nor blow up the band', () => {
    const clean = summarize([...steady('fetch', 2000, 40), ...steady('parse', 6000, 40)]);
    const parse = steady('parse', 6000, 40);
    for (const i of [3, 11, 25]) parse[i]!.durationMs = 60_000;
    const noisy = summarize([...steady('fetch', 2000, 40), ...parse]);
    const a = estimate(running(), clean, T0)!;
    const b = estimate(running(), noisy, T0)!;
    expect(Math.abs(b.remainingMs! - a.remainingMs!) / a.remainingMs!).toBeLessThan(0.08);
    expect(b.highMs!).toBeLessThan(2 * a.highMs!);
  });

  it('drift: after the type gets 30 % slower, 20 runs bring the estimate to the new level', () => {
    const old = steady('parse', 6000, 100).map((r) => ({ ...r, endedAtMs: r.endedAtMs - 1e6 }));
    const fresh = steady('parse', 7800, 20);
    const history = summarize([...steady('fetch', 2000, 100), ...old, ...fresh]);
    const eta = estimate(running(), history, T0)!;
    expect(Math.abs(eta.remainingMs! - (2000 + 7800)) / (2000 + 7800)).toBeLessThan(0.05);
  });

  it('a stage never run before: extrapolated from this attempt at its weight, band widened', () => {
    const history = summarize([...steady('fetch', 2000, 40), ...steady('parse', 6000, 40)]);
    const t = running([...stages, { key: 'upload', weight: 1 }]);
    const known = estimate(running(), history, T0)!;
    const eta = estimate(t, history, T0)!;
    expect(eta.basis).toBe('blend');
    // fetch's 2 s per unit of weight → upload ≈ 2 s more.
    expect(eta.remainingMs! - known.remainingMs!).toBeGreaterThan(1000);
    expect(eta.remainingMs! - known.remainingMs!).toBeLessThan(4000);
    expect(eta.highMs! / eta.lowMs!).toBeGreaterThan(known.highMs! / known.lowMs!);
  });

  it('`total` unknown: history alone, conditioned on the time already spent', () => {
    const history = summarize([...steady('fetch', 2000, 40), ...steady('parse', 6000, 40)]);
    const t = report(running(), T0 + 2000, { stage: 'parse' });
    expect(t.total).toBeNull();
    const early = estimate(t, history, T0 + 2000)!;
    expect(early.basis).toBe('history');
    expect(Math.abs(early.remainingMs! - 6000)).toBeLessThan(500);
    // Well past its usual length the stage is still running: a little more, never zero or negative.
    const late = estimate(t, history, T0 + 2000 + 9000)!;
    expect(late.remainingMs!).toBeGreaterThan(0);
    expect(late.remainingMs!).toBeLessThan(6000);
  });

  it('scales a stage by its `total` when its history grows with size', () => {
    const sized = runs('parse', Array.from({ length: 40 }, (_, i) => 100 * (10 + (i % 7) * 10) * (1 + ((i % 3) - 1) * 0.05)), (i) => 10 + (i % 7) * 10);
    const history = summarize([...steady('fetch', 2000, 40), ...sized]);
    expect(history.get('parse')!.perUnit).not.toBeNull();
    const small = report(running(), T0 + 2000, { stage: 'parse', done: 0, total: 10 });
    const big = report(running(), T0 + 2000, { stage: 'parse', done: 0, total: 70 });
    expect(Math.abs(estimate(small, history, T0 + 2000)!.remainingMs! - 1000)).toBeLessThan(200);
    expect(Math.abs(estimate(big, history, T0 + 2000)!.remainingMs! - 7000)).toBeLessThan(1000);
  });

  it('trusts the pace once the stage is well along, whatever history says', () => {
    const history = summarize([...steady('fetch', 2000, 40), ...steady('parse', 6000, 40)]);
    let t = report(running(), T0 + 2000, { stage: 'parse', done: 0, total: 50 });
    // This one runs parse 2× slower than usual: 40 of 50 in 9.6 s.
    t = report(t, T0 + 2000 + 9600, { done: 40 });
    const eta = estimate(t, history, T0 + 2000 + 9600)!;
    expect(eta.basis).toBe('blend');
    expect(Math.abs(eta.remainingMs! - 2400)).toBeLessThan(700);
  });

  it('counts the time since the last report as work done at the same pace', () => {
    let t = report(running([{ key: 'rows' }]), T0 + 1, { done: 0, total: 100 });
    t = report(t, T0 + 5000, { done: 50 });
    const atReport = estimate(t, new Map(), T0 + 5000)!.remainingMs!;
    const later = estimate(t, new Map(), T0 + 6000)!.remainingMs!;
    expect(Math.abs(atReport - 5000)).toBeLessThan(10);
    expect(Math.abs(later - 4000)).toBeLessThan(10);
  });

  it('says nothing rather than something wild', () => {
    // 1 of 1,000 items after 10 minutes, nothing else known: anywhere from hours to days.
    let t = report(running([{ key: 'rows' }]), T0 + 1, { done: 0, total: 1000 });
    t = report(t, T0 + 600_000, { done: 1 });
    expect(estimate(t, new Map(), T0 + 600_000)).toMatchObject({ remainingMs: null, basis: 'none' });
  });

  it('is null for a task that is not running', () => {
    const q = model.newTask({ type: 'pdf', owner: 'u' }, 'tsk_2', T0, null);
    expect(estimate(q, new Map(), T0)).toBeNull();
  });
});

describe('health', () => {
  /** Health judged exactly at the limit (no deadline checks to be early for). */
  const EXACT = { ...DEFAULT_HEALTH, checkEveryMs: 0 };
  const history = summarize([...steady('fetch', 1000, 40), ...steady('parse', 6000, 40)]);

  it('slow: only far past what healthy runs of the stage take, and never on few runs', () => {
    const t = running();
    expect(assessHealth(t, history, T0 + 1300, DEFAULT_HEALTH)).toBe('ok');
    expect(assessHealth(t, history, T0 + 2500, DEFAULT_HEALTH)).toBe('slow');
    expect(assessHealth(t, summarize(steady('fetch', 1000, 6)), T0 + 2500, DEFAULT_HEALTH)).toBe('ok');
  });

  it('slow: by its own pace while the stage still runs, once enough items tell', () => {
    // 17.5 s projected against ~6 s (limit e^(4·0.1) × 6 s ≈ 9 s): 4 of 10 items could be the
    // slow ones (two standard errors reach below the limit), 16 of 40 cannot.
    let few = report(running(), T0 + 1000, { stage: 'parse', done: 0, total: 10 });
    few = report(few, T0 + 1000 + 7000, { done: 4 });
    expect(assessHealth(few, history, T0 + 1000 + 7000, DEFAULT_HEALTH)).toBe('ok');
    let many = report(running(), T0 + 1000, { stage: 'parse', done: 0, total: 40 });
    many = report(many, T0 + 1000 + 7000, { done: 16 });
    expect(assessHealth(many, history, T0 + 1000 + 7000, DEFAULT_HEALTH)).toBe('slow');
  });

  it('deadline: the instant health would change with no report (slow by elapsed, or stuck)', () => {
    const t = report(running(), T0 + 100, { done: 1, total: 100 });
    // fetch: ~1 s, limit e^(4σ) × median; stuck at 3× a 2 s usual gap = 6 s after the last move.
    const at = healthDeadline(t, history, DEFAULT_HEALTH, 2000)!;
    expect(at).toBeGreaterThan(T0 + 1000);
    expect(at).toBeLessThan(T0 + 100 + 6000);
    expect(assessHealth(t, history, at - 2, DEFAULT_HEALTH, 2000)).toBe('ok');
    expect(assessHealth(t, history, at, DEFAULT_HEALTH, 2000)).toBe('slow');
    // Already slow: only stuck is pending; nothing known: only stuck, at the default.
    expect(healthDeadline({ ...t, health: 'slow' }, history, EXACT, 2000)).toBe(T0 + 100 + 6001);
    expect(healthDeadline(t, new Map(), EXACT, null)).toBe(T0 + 100 + 60_001);
    // Checked every 250 ms (the default): due one check before the limit.
    expect(healthDeadline({ ...t, health: 'slow' }, history, DEFAULT_HEALTH, 2000)).toBe(T0 + 100 + 5751);
    expect(healthDeadline(t, new Map(), DEFAULT_HEALTH, null)).toBe(T0 + 100 + 59_751);
  });

  it('spread: a drift of the level is not counted as noise, outliers are not either', () => {
    // 100 runs at σ ≈ 0.1 around 1 s, then 100 at 1.3 s (newest first), and a 10× outlier.
    let seed = 7;
    const uniform = () => ((seed = (seed * 48271) % 2147483647) / 2147483647);
    const normal = () => Math.sqrt(-2 * Math.log(uniform())) * Math.cos(2 * Math.PI * uniform());
    const ms = Array.from({ length: 200 }, (_, i) => (i < 100 ? 1300 : 1000) * Math.exp(0.1 * normal()));
    ms[50] = 13_000;
    const s = summarize(runs('fetch', ms)).get('fetch')!;
    expect(s.whole.sigma).toBeGreaterThan(0.06);
    expect(s.whole.sigma).toBeLessThan(0.16);
    expect(Math.exp(s.whole.mu)).toBeGreaterThan(1200);
  });

  it('stuck: after 3× the usual gap of the stage (at least 3 s), else the default', () => {
    const t = report(running(), T0 + 100, { done: 1, total: 100 });
    expect(stuckLimitMs(DEFAULT_HEALTH, null)).toBe(60_000);
    expect(stuckLimitMs(DEFAULT_HEALTH, 200)).toBe(3000);
    expect(stuckLimitMs(DEFAULT_HEALTH, 2000)).toBe(6000);
    expect(assessHealth(t, new Map(), T0 + 100 + 5999, EXACT, 2000)).toBe('ok');
    expect(assessHealth(t, new Map(), T0 + 100 + 6001, EXACT, 2000)).toBe('stuck');
    expect(assessHealth(t, new Map(), T0 + 100 + 59_000, EXACT, null)).toBe('ok');
    expect(assessHealth(t, new Map(), T0 + 100 + 61_000, EXACT, null)).toBe('stuck');
  });

  it('stuck: told at the last deadline check at or before the limit, never one check after it', () => {
    const t = report(running(), T0 + 100, { done: 1, total: 100 });
    // Checks every 250 ms: at 5.75 s of quiet the next check would already be past 6 s.
    expect(assessHealth(t, new Map(), T0 + 100 + 5750, DEFAULT_HEALTH, 2000)).toBe('ok');
    expect(assessHealth(t, new Map(), T0 + 100 + 5751, DEFAULT_HEALTH, 2000)).toBe('stuck');
    const at = healthDeadline(t, new Map(), DEFAULT_HEALTH, 2000)!;
    expect(at).toBe(T0 + 100 + 5751);
    // Wherever the checks fall, the first one at or after the deadline is within the limit.
    for (const phase of [0, 1, 137, 249]) {
      const check = at + ((phase - (at % 250) + 250) % 250);
      expect(check - (T0 + 100)).toBeLessThanOrEqual(6000);
      expect(assessHealth(t, new Map(), check, DEFAULT_HEALTH, 2000)).toBe('stuck');
    }
    // Armed well before it: due a second early, to be read again with the gap and pace known then.
    expect(healthDeadline(t, new Map(), DEFAULT_HEALTH, 2000, T0 + 100)).toBe(at - 1000);
    expect(healthDeadline(t, new Map(), DEFAULT_HEALTH, 2000, at - 1000)).toBe(at);
    // ...so a usual gap that shrank meanwhile (2 s → 1.5 s) is told by its new limit, 4.5 s.
    expect(healthDeadline(t, new Map(), DEFAULT_HEALTH, 1500, at - 1000)).toBe(T0 + 100 + 4251);
    // A limit shorter than two checks is not moved by more than half of it.
    const short = { ...DEFAULT_HEALTH, stuckMinMs: 300 };
    expect(assessHealth(t, new Map(), T0 + 100 + 150, short, 10)).toBe('ok');
    expect(assessHealth(t, new Map(), T0 + 100 + 151, short, 10)).toBe('stuck');
  });

  it('stuck: a task slower than usual in its stage gets gaps that much longer (up to 2×)', () => {
    // parse ~6 s for 10 items; this one did 5 in 4.8 s (projected 9.6 s: 1.6× slower).
    let t = report(running(), T0 + 1000, { stage: 'parse', done: 0, total: 10 });
    t = report(t, T0 + 1000 + 4800, { done: 5 });
    const at = T0 + 1000 + 4800;
    expect(stagePace(t, history)).toBeGreaterThan(1.5);
    expect(stagePace(t, history)).toBeLessThan(1.7);
    const limit = stuckLimitMs(DEFAULT_HEALTH, 2000, stagePace(t, history));
    expect(assessHealth(t, history, at + limit - 1, EXACT, 2000)).not.toBe('stuck');
    expect(assessHealth(t, history, at + limit + 1, EXACT, 2000)).toBe('stuck');
    expect(assessHealth(t, history, at + limit - 251, DEFAULT_HEALTH, 2000)).not.toBe('stuck');
    expect(assessHealth(t, history, at + limit - 249, DEFAULT_HEALTH, 2000)).toBe('stuck');
    expect(limit).toBeGreaterThan(6000 * 1.5);
    // Too little done to tell, or no history: the type's gap alone.
    expect(stagePace(report(running(), T0 + 5000, { stage: 'parse', done: 1, total: 10 }), history)).toBe(1);
    expect(stagePace(t, new Map())).toBe(1);
    // Far slower: capped at 2.
    let crawl = report(running(), T0 + 1000, { stage: 'parse', done: 0, total: 10 });
    crawl = report(crawl, T0 + 1000 + 30_000, { done: 5 });
    expect(stagePace(crawl, history)).toBe(2);
  });

  it('the usual gap is the p99 of the stage\'s recent gaps, known after 30', () => {
    const gaps = new ReportGaps();
    for (let i = 0; i < 29; i++) gaps.observe('pdf', 'parse', 100);
    expect(gaps.usual('pdf', 'parse')).toBeNull();
    gaps.observe('pdf', 'parse', 100);
    expect(gaps.usual('pdf', 'parse')).toBe(100);
    // Re-read every 64 gaps: 158 in all, of which the 3 longest are 900 ms → p99 = 900.
    for (let i = 0; i < 128; i++) gaps.observe('pdf', 'parse', i < 125 ? 100 + (i % 10) : 900);
    expect(gaps.usual('pdf', 'parse')).toBe(900);
    expect(gaps.usual('pdf', 'fetch')).toBeNull();
  });

  it('a quiet task\'s usual gap falls by at most 3 % while it stays quiet (it may rise); a move re-reads it', () => {
    const gaps = new ReportGaps();
    // 512 gaps of which 2 % are 1 s long: p99 = 1 s.
    for (let i = 0; i < 512; i++) gaps.observe('pdf', 'parse', i % 50 === 0 ? 1000 : 100);
    const task = { id: 'tsk_1', lastMoveAtMs: T0 };
    expect(gaps.usualFor('pdf', 'parse', task)).toBe(1000);
    // Other tasks report short gaps: the long ones leave the ring and the stage's p99 falls to 100 ms...
    for (let i = 0; i < 512; i++) gaps.observe('pdf', 'parse', 100);
    expect(gaps.usual('pdf', 'parse')).toBe(100);
    // ...but the task quiet since T0 is still judged by 97 % of what it was when it moved.
    expect(gaps.usualFor('pdf', 'parse', task)).toBe(970);
    // It moves: judged by the stage's gap from then on.
    expect(gaps.usualFor('pdf', 'parse', { ...task, lastMoveAtMs: T0 + 5000 })).toBe(100);
    // A rise counts at once, for a quiet task too.
    for (let i = 0; i < 64; i++) gaps.observe('pdf', 'parse', 5000);
    expect(gaps.usualFor('pdf', 'parse', { ...task, lastMoveAtMs: T0 + 5000 })).toBe(5000);
    // Forgotten when it stops running: a new entry, at the stage's gap.
    gaps.forget('tsk_1');
    expect(gaps.usualFor('pdf', 'parse', { id: 'tsk_1', lastMoveAtMs: T0 })).toBe(5000);
  });
});

describe('queue wait', () => {
  it('position p is claimed when the p-th worker slot frees: running ETAs first, then every mean run', () => {
    const w = queueWaits({ busyRemainingMs: [5000, 1000], idleWorkers: 0, serviceMs: 10_000 }, 5);
    expect([...w]).toEqual([1000, 5000, 11_000, 15_000, 21_000]);
  });

  it('an idle worker takes the next task at once; none seen: one assumed', () => {
    expect([...queueWaits({ busyRemainingMs: [4000], idleWorkers: 1, serviceMs: 10_000 }, 3)]).toEqual([0, 4000, 10_000]);
    expect([...queueWaits({ busyRemainingMs: [], idleWorkers: 0, serviceMs: 10_000 }, 2)]).toEqual([0, 10_000]);
  });

  it('a wait of k runs: the median of their sum — one run\'s median, towards k × the mean', () => {
    const w = queueWaits({ busyRemainingMs: [1000], idleWorkers: 0, serviceMs: 12_000, medianServiceMs: 10_000 }, 101);
    expect(w[0]).toBe(1000);
    expect(w[1]).toBeCloseTo(1000 + 10_000, 0);
    const perRun = (w[100]! - 1000) / 100;
    expect(perRun).toBeGreaterThan(11_900);
    expect(perRun).toBeLessThan(12_000);
  });

  it('far positions drain at workers / mean run', () => {
    const w = queueWaits({ busyRemainingMs: [0, 0], idleWorkers: 0, serviceMs: 1000 }, 3000);
    expect(w[2999]! - w[1999]!).toBeCloseTo(1000 * 500, 0);
  });
});

describe('the usual gap\'s quantile', () => {
  it('picks what sorting would, with ties, runs and any k', () => {
    let seed = 7;
    const rnd = () => (seed = (seed * 16807) % 2147483647) / 2147483647;
    for (let trial = 0; trial < 2000; trial++) {
      const n = 1 + Math.floor(rnd() * 600);
      const v = new Float64Array(n);
      for (let i = 0; i < n; i++) v[i] = [Math.floor(rnd() * 5), rnd() * 1e4, i, n - i][trial % 4]!;
      const k = Math.floor(rnd() * n);
      expect(kthSmallest(v, n, k)).toBe(v.slice(0, n).sort()[k]);
    }
  });
});

describe('health deadlines', () => {
  it('takes what is due, in any order of setting, and forgets moved or deleted ids', () => {
    const d = new Deadlines(250);
    d.set('a', 1000);
    d.set('b', 1100);
    d.set('c', 5000);
    d.set('b', 3000); // moved by a report
    d.set('x', 900);
    d.delete('x');
    expect(d.take(999)).toEqual([]);
    expect(d.take(1000)).toEqual(['a']);
    d.set('late', 10); // already past: due at the next take
    expect(d.take(1001)).toEqual(['late']);
    expect(d.take(4999).sort()).toEqual(['b']);
    expect(d.size).toBe(1);
    // A long idle spell: only the slots that exist are walked.
    expect(d.take(1e12)).toEqual(['c']);
    expect(d.size).toBe(0);
  });

  it('moves a deadline within its slot to its new instant, earlier or later', () => {
    const d = new Deadlines(250);
    d.set('a', 1000);
    d.set('a', 1200); // same slot, later
    d.set('b', 1100);
    d.set('b', 1010); // same slot, earlier
    expect(d.take(1009)).toEqual([]);
    expect(d.take(1010)).toEqual(['b']);
    expect(d.take(1199)).toEqual([]);
    d.set('c', 10); // already past: in the current slot
    d.set('c', 20); // still past, same slot
    expect(d.take(1200).sort()).toEqual(['a', 'c']);
    expect(d.size).toBe(0);
  });
});
