/** The `history` sub-store on every engine: stage runs, ETA scores and finished tasks. */
import { expect, it } from 'vitest';
import { describeStores, task } from './engines.ts';

describeStores('store history', (engine) => {
  it('keeps ETA scores durably and reads them back by time and type, a failed unit leaving none', async () => {
    const e = engine();
    let store = await e.open();
    const check = (type: string, endedAtMs: number, checkpoint: number, error: number | null, inside: boolean | null) =>
      ({ type, endedAtMs, checkpoint, error, inside, width: error === null ? null : 0.5 });
    await store.write((tx) => tx.recordEtaChecks([check('pdf', 1000, 50, 0.12, true), check('pdf', 1000, 90, null, null), check('csv', 2000, 50, 0.3, false)]));
    await store.write((tx) => tx.recordEtaChecks([]));
    await expect(store.write(async (tx) => {
      await tx.recordEtaChecks([check('pdf', 3000, 50, 0.9, false)]);
      throw new Error('undone');
    })).rejects.toThrow('undone');
    await store.close();
    store = await e.open();
    const pdf = (await store.history.etaChecksSince(0, 'pdf', 10)).sort((a, b) => a.checkpoint - b.checkpoint);
    expect(pdf).toEqual([check('pdf', 1000, 50, 0.12, true), check('pdf', 1000, 90, null, null)]);
    expect((await store.history.etaChecksSince(1500, undefined, 10)).map((c) => c.type)).toEqual(['csv']);
    expect(await store.history.etaChecksSince(0, undefined, 1)).toHaveLength(1);
  });

  it('keeps where the truth fell against the ETA band (reach) and reads one type\'s back, newest first', async () => {
    const e = engine();
    let store = await e.open();
    const check = (type: string, endedAtMs: number, reach: number | null) => ({ type, endedAtMs, checkpoint: 50, error: 0.2, inside: true, width: 1, reach });
    await store.write((tx) => tx.recordEtaChecks([check('pdf', 1000, 0.25), check('pdf', 3000, -1.5), check('pdf', 2000, null), check('csv', 2500, 4)]));
    // A score written without one (as before the column existed) has none.
    await store.write((tx) => tx.recordEtaChecks([{ type: 'pdf', endedAtMs: 4000, checkpoint: 10, error: 0.1, inside: false, width: 1 }]));
    await store.close();
    store = await e.open();
    expect(await store.history.etaReaches('pdf', 0, 10)).toEqual([-1.5, 0.25]);
    expect(await store.history.etaReaches('pdf', 0, 1)).toEqual([-1.5]);
    expect(await store.history.etaReaches('pdf', 2000, 10)).toEqual([-1.5]);
    expect(await store.history.etaReaches('csv', 0, 10)).toEqual([4]);
  });

  it('reads stage runs newest first, per type and since a time', async () => {
    const store = await engine().open();
    const run = (type: string, stage: string, endedAtMs: number) => ({ type, stage, durationMs: 100, size: null, endedAtMs });
    await store.write(async (tx) => {
      await tx.recordStageRun(run('pdf', 'render', 1000));
      await tx.recordStageRun(run('pdf', 'upload', 2000));
      await tx.recordStageRun(run('csv', 'parse', 3000));
    });
    expect((await store.history.stageRuns('pdf', 10)).map((r) => r.stage)).toEqual(['upload', 'render']);
    expect(await store.history.stageRuns('pdf', 1)).toEqual([run('pdf', 'upload', 2000)]);
    expect((await store.history.stageRunsSince(1500, undefined, 10)).map((r) => r.stage)).toEqual(['parse', 'upload']);
    expect((await store.history.stageRunsSince(0, 'csv', 10)).map((r) => r.stage)).toEqual(['parse']);
  });

  it('lists finished tasks newest first with their error, by type and end time', async () => {
    const store = await engine().open();
    const ended = (id: string, type: string, status: 'completed' | 'failed', endedAt: string) =>
      task(id, type, { status, endedAt, error: status === 'failed' ? { code: 'boom', message: 'it broke' } : null });
    await store.write(async (tx) => {
      await tx.insertTask(ended('f1', 'pdf', 'completed', '2026-01-01T00:00:01.000Z'));
      await tx.insertTask(ended('f2', 'pdf', 'failed', '2026-01-01T00:00:03.000Z'));
      await tx.insertTask(ended('f3', 'csv', 'completed', '2026-01-01T00:00:02.000Z'));
      await tx.insertTask(task('q1', 'pdf'));
    });
    const since = Date.parse('2026-01-01T00:00:00.000Z');
    expect(await store.history.finishedSince(since, undefined, 10)).toEqual([
      { type: 'pdf', status: 'failed', endedAt: '2026-01-01T00:00:03.000Z', errorCode: 'boom', errorMessage: 'it broke' },
      { type: 'csv', status: 'completed', endedAt: '2026-01-01T00:00:02.000Z', errorCode: null, errorMessage: null },
      { type: 'pdf', status: 'completed', endedAt: '2026-01-01T00:00:01.000Z', errorCode: null, errorMessage: null },
    ]);
    expect((await store.history.finishedSince(since, 'pdf', 1)).map((f) => f.status)).toEqual(['failed']);
    expect(await store.history.finishedSince(Date.parse('2026-01-01T00:00:02.500Z'), 'csv', 10)).toEqual([]);
  });
});
