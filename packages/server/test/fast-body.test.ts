import { describe, expect, it } from 'vitest';
import { BatchProgressRequest, ProgressRequest, checkJson } from '@taskpulse/protocol';
import { fastBatchProgress, fastProgress } from '../src/http/fast-body.ts';

const deep = (n: number): unknown => (n === 0 ? 1 : { d: deep(n - 1) });

/** Reports the fast check must accept, and ones it must leave to zod (valid or not). */
const VALID: unknown[] = [
  { lease: 'l' },
  { lease: 'l', done: 0, total: 1 },
  { lease: 'l', done: 5, total: 10, message: 'half way', stage: 'copy', leaseMs: 60_000 },
  { lease: 'l', message: null },
  { lease: 'l', log: 'a line' },
  { lease: 'l', log: { message: 'x' } },
  { lease: 'l', log: { level: 'warn', message: 'x' } },
  { lease: 'l', metadata: { rows: 3, nested: { a: [1, 'b', null, true] } } },
  { lease: 'l', metadata: {} },
  { lease: 'l', done: Number.MAX_SAFE_INTEGER, total: Number.MAX_SAFE_INTEGER },
  { lease: 'l', metadata: deep(30) },
];
const OTHER: unknown[] = [
  null, [], 'x', 5, {},
  { lease: '' }, { lease: 'x'.repeat(201) }, { lease: 5 }, { lease: 'a\u0000' },
  { lease: 'l', done: -1 }, { lease: 'l', done: '5' }, { lease: 'l', done: Infinity }, { lease: 'l', done: NaN },
  { lease: 'l', total: 0 }, { lease: 'l', total: -1 }, { lease: 'l', done: Number.MAX_SAFE_INTEGER + 2 },
  { lease: 'l', message: 'm'.repeat(1001) }, { lease: 'l', message: 'a\u0000b' }, { lease: 'l', message: 5 },
  { lease: 'l', stage: '' }, { lease: 'l', stage: 'a\nb' }, { lease: 'l', stage: 'x'.repeat(129) },
  { lease: 'l', leaseMs: 999 }, { lease: 'l', leaseMs: 1500.5 }, { lease: 'l', leaseMs: 3_600_001 },
  { lease: 'l', log: { level: 'fatal', message: 'x' } }, { lease: 'l', log: { message: 'x', colour: 'red' } }, { lease: 'l', log: {} },
  { lease: 'l', log: { level: 'info' } }, { lease: 'l', log: 5 }, { lease: 'l', log: 'm'.repeat(1001) },
  { lease: 'l', metadata: [] }, { lease: 'l', metadata: null }, { lease: 'l', metadata: { a: 'x'.repeat(17 * 1024) } },
  { lease: 'l', metadata: { a: Infinity } }, { lease: 'l', metadata: { 'k\u0000': 1 } }, { lease: 'l', metadata: deep(40) },
  { lease: 'l', percent: 40 }, { lease: 'l', done: 2, percent: 40, eta: 5 }, { lease: 'l', id: 'tsk_1' },
];

function agrees(fast: (b: unknown) => boolean, schema: typeof ProgressRequest | typeof BatchProgressRequest, body: unknown) {
  if (!fast(body)) return;
  // Accepted fast: the generic check and the schema accept it too, and the body is used as parsed.
  expect(checkJson(body)).toBeNull();
  const parsed = schema.safeParse(body);
  expect(parsed.success).toBe(true);
  expect(parsed.data).toEqual(body);
}

describe('fast body checks (never looser than the zod schema)', () => {
  it('accepts the common progress reports and leaves everything else to zod', () => {
    for (const b of VALID) {
      expect(fastProgress(b), JSON.stringify(b)).toBe(true);
      agrees(fastProgress, ProgressRequest, b);
    }
    for (const b of OTHER) {
      agrees(fastProgress, ProgressRequest, b);
      if (ProgressRequest.safeParse(b).success === false || checkJson(b) !== null) expect(fastProgress(b), JSON.stringify(b)).toBe(false);
    }
  });

  it('does the same for batches', () => {
    const item = (u: unknown) => ({ id: 'tsk_1', ...(u as object) });
    const ok = { updates: VALID.slice(0, -1).map(item) }; // deep(30) is too deep three levels down
    expect(fastBatchProgress(ok)).toBe(true);
    agrees(fastBatchProgress, BatchProgressRequest, ok);
    const bad: unknown[] = [
      null, {}, { updates: [] }, { updates: Array.from({ length: 1001 }, () => ({ id: 'a', lease: 'b' })) },
      { updates: [{ id: 'tsk_1', lease: 'l' }], atomic: true }, { updates: [{ lease: 'l' }] }, { updates: [{ id: '', lease: 'l' }] },
      { updates: [{ id: 'tsk_1', lease: 'l', metadata: deep(29) }] }, { updates: [{ id: 'tsk_1', lease: 'l', metadata: deep(31) }] },
      ...OTHER.filter((o) => o !== null && typeof o === 'object' && !Array.isArray(o)).map((o) => ({ updates: [item(o)] })),
    ];
    for (const b of bad) {
      agrees(fastBatchProgress, BatchProgressRequest, b);
      if (BatchProgressRequest.safeParse(b).success === false || checkJson(b) !== null) expect(fastBatchProgress(b), JSON.stringify(b).slice(0, 200)).toBe(false);
    }
  });
});
