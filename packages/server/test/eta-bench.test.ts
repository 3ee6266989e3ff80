/**
 * A small run of the ETA accuracy benchmark (bench/eta.ts) keeps it working: the real task
 * service and store on a simulated clock. No figure is asserted here; they are in
 * docs/benchmarks.md from full runs.
 */
import { describe, expect, it } from 'vitest';
import { CHECKPOINTS, runEtaBench } from '../../../bench/eta.ts';

describe('bench/eta.ts smoke run', () => {
  it('reads ETAs at every checkpoint for every method and measures health and queue waits', async () => {
    const out = await runEtaBench({ tasks: 8, warmup: 6, seed: 7, queueTasks: 6, workers: [2] });
    expect(out.clock).toBe('simulated');
    expect(out.accuracy.byCheckpoint.map((c) => c.checkpoint)).toEqual([...CHECKPOINTS]);
    for (const c of out.accuracy.byCheckpoint) {
      expect(c.reads).toBeGreaterThan(0);
      expect(c.taskpulse.median).not.toBeNull();
      expect(c.linear.median).not.toBeNull();
    }
    expect(out.health.healthy.tasks).toBeGreaterThan(0);
    expect(out.queue).toHaveLength(1);
    expect(out.queue[0]!.tasks).toBe(6);
    expect(() => JSON.stringify(out)).not.toThrow();
  });
});
