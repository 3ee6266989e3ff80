import { describe, expect, it } from 'vitest';
import { filterKey } from '../src/filter-key.ts';

describe('filterKey (useTasks compares filters by value)', () => {
  it('ignores field order, undefined fields and the order of a status list', () => {
    expect(filterKey({ type: 'a', status: ['running', 'queued'] })).toBe(filterKey({ status: ['queued', 'running'], type: 'a', tag: undefined }));
    expect(filterKey()).toBe(filterKey({}));
  });

  it('tells different filters apart, limit included', () => {
    const keys = [{}, { type: 'a' }, { type: 'b' }, { tag: 'a' }, { status: 'active' as const }, { limit: 5 }, { limit: 6 }, { parentId: 'p' }, { owner: 'o' }].map((f) => filterKey(f));
    expect(new Set(keys).size).toBe(keys.length);
  });
});
