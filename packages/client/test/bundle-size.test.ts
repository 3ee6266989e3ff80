/**
 * The browser bundle budget (issue 7): the client's main entry, bundled and minified as an app's
 * bundler would, stays within 12.25 KiB min+gzip (scripts/bundle-size.ts) and pulls in no zod. A size, not a timing: the same
 * sources give the same bytes on any machine.
 */
import { describe, expect, it } from 'vitest';
import { BUDGET_BYTES, measureClientBundle } from '../scripts/bundle-size.ts';

describe('client bundle', () => {
  it('the main entry is at most 12.25 KiB min+gzip and carries no zod', async () => {
    const { gzipBytes, hasZod } = await measureClientBundle();
    expect(hasZod).toBe(false);
    expect(gzipBytes).toBeLessThanOrEqual(BUDGET_BYTES);
  });
});
