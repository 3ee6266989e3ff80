import type { ConnectionApi, Notification, NotificationChange, NotificationsApi, StateChange } from '@taskpulse/client';
import { describe, expect, it } from 'vitest';
import { InboxWatch } from '../src/inbox-watch.ts';
import { notification } from './support.ts';

function fakes() {
  const lists: Array<{ options: unknown; resolve(list: Notification[]): void; reject(e: unknown): void }> = [];
  const changes = new Set<(c: NotificationChange) => void>();
  const states = new Set<(c: StateChange) => void>();
  const api = {
    list: (options: unknown) => new Promise<Notification[]>((resolve, reject) => lists.push({ options, resolve, reject })),
    subscribe: (l: (c: NotificationChange) => void) => {
      changes.add(l);
      return () => changes.delete(l);
    },
  } as unknown as NotificationsApi;
  const connection = {
    subscribe: (l: (c: StateChange) => void) => {
      states.add(l);
      return () => states.delete(l);
    },
  } as unknown as ConnectionApi;
  const change = (c: NotificationChange) => changes.forEach((l) => l(c));
  const state = (current: StateChange['current']) => states.forEach((l) => l({ previous: 'connecting', current, reason: 'stream_open' }));
  return { api, connection, lists, change, state, changes, states };
}

const tick = () => new Promise((r) => setTimeout(r, 0));

describe('InboxWatch (the store behind useNotifications)', () => {
  it('loads the inbox, then follows created and read events, newest first', async () => {
    const f = fakes();
    const inbox = new InboxWatch(f.api, f.connection, { limit: 2 });
    expect(inbox.getSnapshot()).toMatchObject({ loading: true, notifications: [] });
    expect(f.lists[0]!.options).toEqual({ limit: 2 });
    f.lists[0]!.resolve([notification({ id: 'a', seq: 1 })]);
    await tick();
    expect(inbox.getSnapshot()).toMatchObject({ loading: false, unreadCount: 1 });
    f.change({ type: 'created', notification: notification({ id: 'b', seq: 2 }) });
    f.change({ type: 'created', notification: notification({ id: 'c', seq: 3 }) });
    expect(inbox.getSnapshot().notifications.map((n) => n.id)).toEqual(['c', 'b']); // limit 2
    f.change({ type: 'read', ids: ['c'], readAt: 'T' });
    expect(inbox.getSnapshot()).toMatchObject({ unreadCount: 1 });
    expect(inbox.getSnapshot().notifications[0]!.readAt).toBe('T');
  });

  it('a read heard before the list answered wins over the older answer', async () => {
    const f = fakes();
    const inbox = new InboxWatch(f.api, f.connection);
    f.change({ type: 'read', ids: ['a'], readAt: 'T' });
    f.lists[0]!.resolve([notification({ id: 'a', seq: 1, readAt: null })]);
    await tick();
    expect(inbox.getSnapshot()).toMatchObject({ unreadCount: 0, notifications: [{ id: 'a', readAt: 'T' }] });
  });

  it('unreadOnly: a read notification leaves the list', async () => {
    const f = fakes();
    const inbox = new InboxWatch(f.api, f.connection, { unreadOnly: true });
    expect(f.lists[0]!.options).toEqual({ limit: 20, unread: true });
    f.lists[0]!.resolve([notification({ id: 'a' })]);
    await tick();
    f.change({ type: 'read', ids: ['a'], readAt: 'T' });
    expect(inbox.getSnapshot().notifications).toEqual([]);
  });

  it('a failed load is tried again when the connection recovers; close() stops everything', async () => {
    const f = fakes();
    const inbox = new InboxWatch(f.api, f.connection);
    const seen: unknown[] = [];
    inbox.subscribe((v) => seen.push(v));
    f.lists[0]!.reject(Object.assign(new Error('down'), { code: 'network' }));
    await tick();
    expect(inbox.getSnapshot().error).toMatchObject({ code: 'network' });
    f.state('live');
    f.lists[1]!.resolve([notification()]);
    await tick();
    expect(inbox.getSnapshot()).toMatchObject({ error: undefined, unreadCount: 1 });
    expect(seen).toHaveLength(2);
    inbox.close();
    inbox.close();
    expect(f.changes.size + f.states.size).toBe(0);
  });

  it('refuses a bad limit', () => {
    const f = fakes();
    expect(() => new InboxWatch(f.api, f.connection, { limit: 0 })).toThrow(/`limit` must be an integer from 1 to 500, got 0/);
  });
});
