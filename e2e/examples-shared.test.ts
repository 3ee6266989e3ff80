/** The example pages' pure helpers (configuration, formatting, the F5 placeholder), in Node. */
import { describe, expect, it } from 'vitest';
import { clientOptions, ConfigError, readConfig } from '../examples/web/shared/config.ts';
import { formatEta, formatPercent, formatStage, remainingMs } from '../examples/web/shared/format.ts';
import { loadLastSeen, newest, saveLastSeen } from '../examples/web/shared/last-seen.ts';
import type { Task } from '@taskpulse/client';

const ORIGIN = 'https://app.example.com';

describe('page configuration', () => {
  it('defaults to the same origin; the query string wins over window.TASKPULSE', () => {
    expect(readConfig('?token=t1', ORIGIN, undefined)).toMatchObject({ url: ORIGIN, token: 't1', taskId: undefined });
    const globals = { url: 'https://g.example.com', token: 'g', taskId: 'tsk_g', heartbeatMs: 2000 };
    expect(readConfig('', ORIGIN, globals)).toMatchObject({ url: 'https://g.example.com', token: 'g', taskId: 'tsk_g', heartbeatMs: 2000 });
    expect(readConfig('?url=https%3A%2F%2Fq.example.com&token=q&task=tsk_q&transport=polling&heartbeatMs=1000', ORIGIN, globals)).toMatchObject({
      url: 'https://q.example.com',
      token: 'q',
      taskId: 'tsk_q',
      transport: 'polling',
      heartbeatMs: 1000,
    });
  });

  it('getToken from window.TASKPULSE; options carry only what was given', () => {
    const getToken = () => 'fresh';
    const config = readConfig('', ORIGIN, { getToken });
    expect(clientOptions(config)).toEqual({ url: ORIGIN, getToken });
  });

  it('no credential or a bad value: a ConfigError the page shows', () => {
    expect(() => readConfig('', ORIGIN, undefined)).toThrow(ConfigError);
    expect(() => readConfig('?token=t&transport=ws', ORIGIN, undefined)).toThrow(/transport must be auto, sse or polling/);
    expect(() => readConfig('?token=t&heartbeatMs=-1', ORIGIN, undefined)).toThrow(/heartbeatMs must be a positive whole number/);
  });
});

const base = { id: 'tsk_1', seq: 5, status: 'running', eta: { remainingMs: 15_000, lowMs: null, highMs: null, at: null, basis: 'rate' }, stage: { key: 'p', label: 'Parsing', index: 1, count: 3 } } as unknown as Task;

describe('formatting', () => {
  it('percent, stage and ETA', () => {
    expect([formatPercent(null), formatPercent(42), formatPercent(42.54)]).toEqual(['—', '42 %', '42.5 %']);
    expect(formatStage(base)).toBe('Parsing (2/3)');
    expect([formatEta(null), formatEta(400), formatEta(15_000), formatEta(600_000), formatEta(9_000_000)]).toEqual(['', 'almost done', '~15 s left', '~10 min left', '~3 h left']);
  });

  it('the ETA counts down on the page clock from when the task arrived, never below zero', () => {
    expect(remainingMs(base, 1000, 1000)).toBe(15_000);
    expect(remainingMs(base, 1000, 6000)).toBe(10_000);
    expect(remainingMs(base, 1000, 99_000)).toBe(0);
    expect(remainingMs({ ...base, status: 'completed' }, 0, 0)).toBeNull();
  });
});

describe('last seen (the bar at first paint after F5)', () => {
  it('round-trips through storage without input/result; newest by seq wins', () => {
    const map = new Map<string, string>();
    const store = { getItem: (k: string) => map.get(k) ?? null, setItem: (k: string, v: string) => void map.set(k, v) };
    saveLastSeen({ ...base, input: { big: 'x' }, result: { big: 'y' } }, store);
    const back = loadLastSeen('tsk_1', store)!;
    expect(back).toMatchObject({ id: 'tsk_1', seq: 5, input: null, result: null });
    expect(loadLastSeen('tsk_2', store)).toBeUndefined();
    map.set('taskpulse:last-seen:tsk_3', '{not json');
    expect(loadLastSeen('tsk_3', store)).toBeUndefined();
    const live = { ...base, seq: 9 };
    expect(newest(live, back)).toBe(live);
    expect(newest(undefined, back)).toBe(back);
    expect(newest(live, undefined)).toBe(live);
  });
});
