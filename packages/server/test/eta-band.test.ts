/**
 * The band's calibration with hand-made histories: where the truth fell against the model's own
 * band in a type's recent scores (`reach`) widens the band of a type whose tails are heavier
 * than the model's, and leaves it alone when it holds the truth often enough or too few scores
 * say so. Pure functions, then the cache on a real SQLite store (in memory) and a fake clock.
 */
import { describe, expect, it } from 'vitest';
import * as model from '../src/tasks/model.ts';
import { MODEL_BAND, estimate, summarize } from '../src/eta/eta.ts';
import { BAND_TARGET, EtaRecorder, MIN_BAND_CHECKS, bandScale } from '../src/eta/calibration.ts';
import { HistoryCache } from '../src/eta/history.ts';
import { SqliteStore } from '../src/store/sqlite/index.ts';
import type { EtaCheck, StageRun } from '../src/store/store.ts';

const T0 = Date.parse('2026-01-01T00:00:00Z');
/** n values evenly spread over [a, b]. */
const spread = (n: number, a: number, b: number) => Array.from({ length: n }, (_, i) => a + ((b - a) * (i + 0.5)) / n);
/** Share of reaches the band scaled by `s` holds. */
const held = (reaches: number[], s: { low: number; high: number }) => reaches.filter((r) => r >= -s.low && r <= s.high).length / reaches.length;

describe('bandScale', () => {
  it('enough coverage: the model band unchanged', () => {
    // 90 % inside ±1, the rest far out on both sides.
    const reaches = [...spread(90, -0.95, 0.95), ...spread(5, 2, 4), ...spread(5, -4, -2)];
    expect(bandScale(reaches)).toEqual(MODEL_BAND);
  });

  it('few scores: unchanged however far out they fell', () => {
    expect(bandScale(spread(MIN_BAND_CHECKS - 1, 2, 5))).toEqual(MODEL_BAND);
    expect(bandScale([])).toEqual(MODEL_BAND);
  });

  it('coverage low on the slow side: that side widens until the target share is held, the other stays', () => {
    // 61 % inside (the demo's pdf-import), the misses all above: heavy tail of slow runs.
    const reaches = [...spread(61, -0.9, 0.9), ...spread(39, 1.05, 3)];
    const s = bandScale(reaches);
    expect(s.low).toBe(1);
    expect(s.high).toBeGreaterThan(1.5);
    expect(held(reaches, s)).toBeGreaterThanOrEqual(BAND_TARGET - 0.01);
    // Not wider than it must: a little narrower would hold less than the target.
    expect(held(reaches, { low: 1, high: s.high * 0.97 })).toBeLessThan(BAND_TARGET);
  });

  it('coverage low on both sides: each side misses at most half of what is allowed', () => {
    const reaches = [...spread(50, -1, 1), ...spread(25, 1.1, 2.5), ...spread(25, -2.5, -1.1)];
    const s = bandScale(reaches);
    expect(s.low).toBeGreaterThan(1);
    expect(s.high).toBeGreaterThan(1);
    expect(held(reaches, s)).toBeGreaterThanOrEqual(BAND_TARGET - 0.01);
    expect(reaches.filter((r) => r > s.high).length / reaches.length).toBeLessThanOrEqual((1 - BAND_TARGET) / 2 + 0.01);
  });

  it('never narrower than the model band, and at most 3× it', () => {
    const s = bandScale([...spread(20, -0.2, 0.2), ...spread(80, 10, 20)]);
    expect(s).toEqual({ low: 1, high: 3 });
  });
});

describe('estimate with a band scale', () => {
  const history = summarize(Array.from({ length: 30 }, (_, i): StageRun => ({
    type: 'pdf', stage: 'fetch', durationMs: 2000 * (1 + ((i % 5) - 2) * 0.1), size: null, endedAtMs: T0 - i * 1000,
  })));
  const t = model.claim(model.newTask({ type: 'pdf', owner: 'u', stages: [{ key: 'fetch' }] }, 'tsk_1', T0, null), 'lse_a', 600_000, T0).task;

  it('widens each side by its factor in log space; the point is the same', () => {
    const plain = estimate(t, history, T0)!;
    expect(estimate(t, history, T0, MODEL_BAND)).toEqual(plain);
    const wide = estimate(t, history, T0, { low: 1, high: 2 })!;
    expect(wide.remainingMs).toBe(plain.remainingMs);
    expect(wide.lowMs).toBe(plain.lowMs);
    // ln(high / median) doubles: high / median = (plain high / median)².
    const median = Math.sqrt(plain.lowMs! * plain.highMs!);
    expect(wide.highMs! / median).toBeCloseTo((plain.highMs! / median) ** 2, 1);
  });
});

describe('EtaRecorder reach', () => {
  it('scores where the truth fell against the model band, whatever widened band was shown', () => {
    const rec = new EtaRecorder();
    const t = model.claim(model.newTask({ type: 'pdf', owner: 'u' }, 'tsk_1', T0, null), 'lse_a', 600_000, T0).task;
    // Model: median 1 s, band 0.5–2 s (log half-width ln 2); shown with the high side doubled: 0.5–4 s.
    rec.sample(t, { remainingMs: 1000, lowMs: 500, highMs: 4000, at: null, basis: 'history' }, T0, { low: 1, high: 2 });
    // It took 3 s: outside the model's band (reach log2 3 ≈ 1.58), inside the one shown.
    const checks = rec.score({ ...t, status: 'completed' }, T0 + 3000);
    expect(checks).toHaveLength(5);
    for (const c of checks) {
      expect(c.inside).toBe(true);
      expect(c.reach!).toBeCloseTo(Math.log2(3), 2);
    }
    // With the model band shown, the same run reaches as far.
    const plain = new EtaRecorder();
    plain.sample(t, { remainingMs: 1000, lowMs: 500, highMs: 2000, at: null, basis: 'history' }, T0);
    for (const c of plain.score({ ...t, status: 'completed' }, T0 + 3000)) {
      expect(c.inside).toBe(false);
      expect(c.reach!).toBeCloseTo(Math.log2(3), 2);
    }
  });
});

describe('HistoryCache band', () => {
  const check = (type: string, endedAtMs: number, reach: number | null): EtaCheck =>
    ({ type, endedAtMs, checkpoint: 50, error: 0.1, inside: reach !== null && Math.abs(reach) <= 1, width: 1, reach });

  it('loads the type\'s recent scores from the store and widens its band; completions recalibrate it at most every 2 s', async () => {
    let now = T0;
    const store = new SqliteStore({ file: ':memory:' });
    // 60 % inside, the rest 1.5–3 above; a score without reach (no ETA) and another type's are not counted.
    const reaches = [...spread(30, -0.9, 0.9), ...spread(20, 1.5, 3)];
    await store.write((tx) => tx.recordEtaChecks([...reaches.map((r, i) => check('pdf', T0 - i, r)), check('pdf', T0, null), check('csv', T0, 5)]));
    expect((await store.history.etaReaches('pdf', 0, 1000)).sort()).toEqual([...reaches].sort());
    expect(await store.history.etaReaches('pdf', T0 - 1, 1000)).toHaveLength(2);

    const history = new HistoryCache(store, { now: () => now });
    expect(history.band('pdf')).toEqual(MODEL_BAND);
    await history.load('pdf');
    const wide = history.band('pdf');
    expect(wide.low).toBe(1);
    expect(wide.high).toBeGreaterThan(1.5);

    // 500 well-covered scores arrive (the slow runs are gone): recomputed once 2 s have passed.
    history.addChecks(spread(500, -0.5, 0.5).map((r) => check('pdf', T0 + 1, r)));
    expect(history.band('pdf')).toBe(wide);
    now += 2000;
    expect(history.band('pdf')).toEqual(MODEL_BAND);
    await store.close();
  });
});
