import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { UnrecoverableError, WORKER_ERROR_CODES, WorkerError, isWorkerError } from '../src/index.ts';

const SRC = join(import.meta.dirname, '../src');

describe('errors', () => {
  it('every code used in the sources is declared, and every declared code is used', () => {
    const used = new Set<string>();
    for (const file of readdirSync(SRC)) {
      const text = readFileSync(join(SRC, file), 'utf8');
      for (const m of text.matchAll(/new WorkerError\(\s*'([a-z_]+)'/g)) used.add(m[1]!);
      for (const m of text.matchAll(/isWorkerError\([^)]*\)/g)) for (const c of m[0].matchAll(/'([a-z_]+)'/g)) used.add(c[1]!);
    }
    const declared = Object.keys(WORKER_ERROR_CODES);
    for (const code of used) expect(declared, `code ${code} is used but not declared`).toContain(code);
    // `unrecoverable` is UnrecoverableError's code, `invalid_option` comes from options.ts' helper.
    for (const code of declared) expect([...used, 'unrecoverable', 'invalid_option', 'http_error'], `code ${code} is declared but unused`).toContain(code);
    expect(new Set(declared).size).toBe(declared.length);
  });

  it('carries code, status and cause', () => {
    const cause = new Error('root');
    const e = new WorkerError('http_error', 'nope', { status: 400, serverCode: 'invalid_request', cause });
    expect(e).toMatchObject({ code: 'http_error', status: 400, serverCode: 'invalid_request', message: 'nope', cause, name: 'WorkerError' });
    expect(isWorkerError(e)).toBe(true);
    expect(isWorkerError(e, 'lease_lost')).toBe(false);
    expect(new WorkerError('canceled').message).toBe(WORKER_ERROR_CODES.canceled);
  });

  it('UnrecoverableError has a stable code and an optional task code', () => {
    expect(new UnrecoverableError('bad')).toMatchObject({ code: 'unrecoverable', taskCode: 'unrecoverable', name: 'UnrecoverableError' });
    expect(new UnrecoverableError('bad', { taskCode: 'bad_input' }).taskCode).toBe('bad_input');
  });
});
