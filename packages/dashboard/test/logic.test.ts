/** The dashboard's pure rules: notices, live page merging, bulk scope, tokens, formatting. */
import type { Task } from '@taskpulse/protocol';
import { describe, expect, it } from 'vitest';
import { bulkStatus } from '../src/bulk.ts';
import { duration, eta, etaVerdict, rowMessage, stageText } from '../src/format.ts';
import { applyChanges, matchesQuery } from '../src/live-list.ts';
import { compareTasks, sortFromParams } from '../src/sort.ts';
import { addNotice, clearMore, EMPTY_NOTICES, expireNotices, foldNotices, NOTICE_RULES } from '@taskpulse/client/notices';
import { describe as describeToken } from '../src/session.ts';

const task = (id: string, over: Partial<Task> = {}): Task =>
  ({
    id, type: 't', owner: 'o', tags: [], parentId: null, status: 'running', attempt: 1, maxAttempts: 3, seq: 1,
    progress: { done: null, total: null, percent: null }, stage: null, stages: [], message: null, eta: null, health: 'ok', queue: null,
    input: null, result: null, error: null, metadata: {}, cancelRequested: false, children: { total: 0, queued: 0, running: 0, completed: 0, failed: 0, canceled: 0 },
    createdAt: '2026-12-01T10:00:00.000Z', startedAt: '2026-12-01T10:00:00.000Z', updatedAt: '2026-12-01T10:00:00.000Z', endedAt: null, heartbeatAt: null,
    ...over,
  }) as Task;

describe('notices', () => {
  it('shows at most three, counts the rest, and expires each after its time', () => {
    let s = EMPTY_NOTICES;
    for (let i = 0; i < 50; i++) s = addNotice(s, { id: `n${i}`, title: 't', body: 'b', kind: 'completed', taskId: `t${i}` }, 1000 + i);
    expect(s.visible.map((v) => v.id)).toEqual(['n0', 'n1', 'n2']);
    expect(s.more).toBe(47);
    expect(addNotice(s, { id: 'n1', title: 't', body: 'b', kind: 'completed', taskId: 't1' }, 2000)).toBe(s);
    expect(expireNotices(s, 1000 + NOTICE_RULES.ttlMs - 1).visible).toHaveLength(3);
    expect(expireNotices(s, 1001 + NOTICE_RULES.ttlMs).visible.map((v) => v.id)).toEqual(['n2']);
    expect(clearMore(s).more).toBe(0);
  });

  it('folded to one box, the newest shows and every other finish is counted, also after it would have expired', () => {
    const add = (s: typeof EMPTY_NOTICES, i: number) => foldNotices(addNotice(s, { id: `n${i}`, title: 't', body: 'b', kind: 'completed', taskId: `t${i}` }, 1000 + i), 1);
    let s = add(EMPTY_NOTICES, 0);
    expect(s.visible.map((v) => v.id)).toEqual(['n0']);
    expect(s.more).toBe(0);
    s = add(s, 1);
    expect(s.visible.map((v) => v.id)).toEqual(['n1']); // the newest, not the first
    expect(s.more).toBe(1);
    for (let i = 2; i < 10; i++) s = add(s, i);
    expect(s.visible.map((v) => v.id)).toEqual(['n9']);
    expect(s.more).toBe(9);
    // The folded-away notices are counted, not on screen: their expiry lowers nothing.
    const later = expireNotices(s, 1009 + NOTICE_RULES.ttlMs);
    expect(later).toEqual({ visible: [], more: 9 });
    expect(foldNotices(s, 1)).toBe(s);
    expect(foldNotices(s, 3)).toBe(s);
    expect(() => foldNotices(s, -1)).toThrow('slots must be a non-negative integer, got -1');
  });
});

describe('live page', () => {
  it('replaces rows with newer versions only, and puts new matches on top within the page size', () => {
    const a = task('a', { seq: 5 });
    const b = task('b', { seq: 6 });
    const rows = [a, b];
    const out = applyChanges(rows, new Map([['a', task('a', { seq: 4 })], ['b', task('b', { seq: 9, message: 'new' })]]), [], 50);
    expect(out[0]).toBe(a);
    expect(out[1]!.message).toBe('new');
    expect(applyChanges(rows, new Map(), [task('c'), task('d')], 3).map((t) => t.id)).toEqual(['d', 'c', 'a']);
    expect(applyChanges(rows, new Map(), [], 50)).toBe(rows);
  });

  it('keeps a server-sorted page in the server\'s order as rows change and tasks appear', () => {
    const at = (m: number) => `2026-12-01T10:0${m}:00.000Z`;
    const st = (id: string, status: Task['status'], m: number, seq = 1) => task(id, { seq, createdAt: at(m), status });
    const byStatus = compareTasks('status', 'desc');
    const rows = [st('a', 'failed', 1), st('b', 'running', 2), st('c', 'queued', 3)];
    // b finishes and overtakes a; a new completed task goes between them; the page keeps its size.
    const out = applyChanges(rows, new Map([['b', st('b', 'canceled', 2, 2)]]), [st('d', 'completed', 4)], 3, byStatus);
    expect(out.map((t) => t.id)).toEqual(['b', 'a', 'd']);
    // Ties fall back to creation order, in the same direction (as the server's keyset does).
    expect([st('x', 'running', 1), st('y', 'running', 2)].sort(compareTasks('status', 'asc')).map((t) => t.id)).toEqual(['x', 'y']);
    expect([st('x', 'running', 1), st('y', 'running', 2)].sort(byStatus).map((t) => t.id)).toEqual(['y', 'x']);
    // Status by lifecycle, not by name.
    const s = [task('f', { status: 'failed' }), task('q', { status: 'queued' }), task('r', { status: 'running' })];
    expect(s.sort(compareTasks('status', 'asc')).map((t) => t.id)).toEqual(['q', 'r', 'f']);
  });

  it('reads the sort from the URL; anything unknown is newest first', () => {
    expect(sortFromParams(new URLSearchParams('sort=owner&dir=asc'))).toEqual({ key: 'owner', order: 'asc' });
    expect(sortFromParams(new URLSearchParams('sort=progress'))).toEqual({ key: 'created', order: 'desc' });
    expect(sortFromParams(new URLSearchParams('sort=duration'))).toEqual({ key: 'created', order: 'desc' });
    expect(sortFromParams(new URLSearchParams(''))).toEqual({ key: 'created', order: 'desc' });
  });

  it('matches a live task against the filters the server applied', () => {
    const t = task('tsk_1', { type: 'pdf', owner: 'ann', tags: ['p:1'], message: 'Parsing Page 4' });
    expect(matchesQuery(t, { status: 'active', type: 'pdf', owner: 'ann', tag: 'p:1' })).toBe(true);
    expect(matchesQuery(t, { status: 'failed,canceled' })).toBe(false);
    expect(matchesQuery(t, { q: 'parsing page' })).toBe(true);
    expect(matchesQuery(t, { q: 'tsk_1' })).toBe(true);
    expect(matchesQuery(t, { owner: 'bob' })).toBe(false);
    expect(matchesQuery(t, { createdFrom: '2026-12-02T00:00:00.000Z' })).toBe(false);
  });
});

describe('bulk', () => {
  it('acts only on the statuses an action applies to, within the filter', () => {
    expect(bulkStatus('cancel', undefined)).toBe('queued,running');
    expect(bulkStatus('retry', undefined)).toBe('failed,canceled');
    expect(bulkStatus('cancel', 'active')).toBe('queued,running');
    expect(bulkStatus('retry', 'failed')).toBe('failed');
    expect(bulkStatus('retry', 'running')).toBeNull();
  });
});

describe('tokens', () => {
  const jwt = (claims: object) => `h.${Buffer.from(JSON.stringify(claims)).toString('base64url')}.s`;
  it('tells staff from viewer tokens, and refuses expired or unreadable ones', () => {
    const exp = Math.floor(Date.now() / 1000) + 60;
    expect(describeToken(jwt({ sub: 'staff', tp_role: 'staff', exp }))).toMatchObject({ kind: 'staff' });
    expect(describeToken(jwt({ sub: 'user_42', exp }))).toMatchObject({ kind: 'viewer', owner: 'user_42' });
    expect(describeToken(jwt({ sub: 'u', exp: 1 }))).toEqual({ kind: 'none', problem: 'expired' });
    expect(describeToken('not-a-jwt')).toEqual({ kind: 'none', problem: 'malformed' });
  });
});

describe('format', () => {
  it('reads durations, ETAs and stages as a person would', () => {
    expect(duration(850)).toBe('850 ms');
    expect(duration(12_400)).toBe('12 s');
    expect(duration(200_000)).toBe('3 min 20 s');
    const now = Date.parse('2026-12-01T10:00:00.000Z');
    const t = task('x', { eta: { remainingMs: 15_000, lowMs: 11_000, highMs: 24_000, at: '2026-12-01T10:00:15.000Z', basis: 'history' } });
    expect(eta(t, now)).toEqual({ text: '~15 s left', band: '11 s – 24 s', why: 'from past runs' });
    expect(eta(t, now + 5000)?.text).toBe('~10 s left');
    // Nearly done: no band of milliseconds.
    expect(eta(t, now + 14_500)).toEqual({ text: 'almost done', band: null, why: 'from past runs' });
    const staged = task('y', { stage: { key: 'parse', label: 'Parsing', index: 1, count: 3 } });
    expect(stageText(staged)).toBe('Parsing (2/3)');
    expect(stageText({ ...staged, status: 'failed' })).toBe('stopped in Parsing (2/3)');
  });

  it('shows the worker\'s message only while the task runs, never a stale one under a finished task', () => {
    const running = task('m', { status: 'running', message: 'Parsing page 5/6' });
    expect(rowMessage(running)).toBe('Parsing page 5/6');
    expect(rowMessage({ ...running, status: 'completed', endedAt: '2026-12-01T10:00:42.000Z' })).toBe('finished in 42 s');
    expect(rowMessage({ ...running, status: 'canceled', endedAt: '2026-12-01T10:00:42.000Z' })).toBe('');
    expect(rowMessage({ ...running, status: 'completed', startedAt: null })).toBe('');
  });
});

describe('ETA accuracy verdict', () => {
  const acc = (tasks: number, medianErrorAt50: number | null, bandCoverage: number | null) => ({ tasks, medianErrorAt50, bandCoverage, bandWidth: 1, noEta: 0, checkpoints: [] });
  it('says nothing on few tasks, then good / rough / unreliable by the error half way and the band', () => {
    expect(etaVerdict(acc(9, 0.05, 0.9)).label).toBe('too few');
    expect(etaVerdict(acc(40, null, null)).label).toBe('too few');
    expect(etaVerdict(acc(40, 0.11, 0.87)).label).toBe('good');
    expect(etaVerdict(acc(40, 0.11, 0.5)).label).toBe('unreliable');
    expect(etaVerdict(acc(40, 0.3, 0.7)).label).toBe('rough');
    expect(etaVerdict(acc(40, 0.45, 0.9)).label).toBe('unreliable');
  });
});
