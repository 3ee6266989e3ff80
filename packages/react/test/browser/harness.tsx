/**
 * Runs in Chromium (bundled by hooks.browser.test.ts): each scenario mounts components that use
 * the hooks against a fake client, drives it, and returns what it observed. React's development
 * build, StrictMode where it matters.
 */
import type { Notification, StateChange, TaskEvent, TaskPulseClient, TaskView, TaskListView } from '@taskpulse/client';
import { QueryClient, QueryClientProvider, useQuery } from '@tanstack/react-query';
import { createElement, StrictMode, useState, type ReactNode } from 'react';
import { createRoot } from 'react-dom/client';
import { TaskPulseProvider, useNotifications, useTask, useTasks } from '../../src/index.ts';
import { useInvalidateOnEvents } from '../../src/query/index.ts';
import { FakeWatch, event, notification, task } from '../support.ts';
import { eventually } from '../../../../test-support/eventually.ts';

function fake() {
  const watches: Array<{ key: string; watch: FakeWatch<unknown> }> = [];
  const listeners = { complete: new Set<(n: Notification) => void>(), events: new Set<(e: TaskEvent) => void>() };
  let registrations = 0;
  const client = {
    watchTask(id: string) {
      const watch = new FakeWatch<TaskView>({ task: task({ id, message: `${id} v0` }), loading: false, error: undefined });
      watches.push({ key: `task:${id}`, watch: watch as FakeWatch<unknown> });
      return watch;
    },
    watchTasks(filter: unknown) {
      const watch = new FakeWatch<TaskListView>({ tasks: [task()], loading: false, error: undefined });
      watches.push({ key: `tasks:${JSON.stringify(filter)}`, watch: watch as FakeWatch<unknown> });
      return watch;
    },
    connection: { getSnapshot: () => ({ state: 'live', reason: 'stream_open' }), subscribe: (_: (c: StateChange) => void) => () => {} },
    notifications: {
      onComplete(l: (n: Notification) => void) {
        registrations++;
        listeners.complete.add(l);
        return () => listeners.complete.delete(l);
      },
      onFail: () => () => {},
      onNotification: () => () => {},
      subscribe: () => () => {},
      list: async () => [],
      markRead: async () => {},
    },
    onEvent(l: (e: TaskEvent) => void) {
      listeners.events.add(l);
      return () => listeners.events.delete(l);
    },
  };
  return {
    client: client as unknown as TaskPulseClient,
    watches,
    listeners,
    registrations: () => registrations,
    open: () => watches.filter((w) => w.watch.listeners.size > 0).map((w) => w.key),
  };
}

const frame = () => new Promise((r) => setTimeout(r, 30));
/**
 * Waits until React has rendered and run its effects to the state `ready` describes (a loaded
 * machine can take longer than a frame), then one more frame for anything that should not happen.
 * After 5 s it returns anyway and the test's assertions report what was there.
 */
async function settle(ready: () => boolean): Promise<void> {
  await eventually('React to settle', ready, 5000, 10).catch(() => {});
  await frame();
}
const same = (a: string[], b: string[]) => a.length === b.length && a.every((x, i) => x === b[i]);
const text = (root: HTMLElement) => root.textContent ?? '';

function mount(node: ReactNode) {
  const el = document.createElement('div');
  document.body.append(el);
  const root = createRoot(el);
  root.render(createElement(StrictMode, null, node));
  return { el, root, render: (n: ReactNode) => root.render(createElement(StrictMode, null, n)) };
}

function Show({ id }: { id: string | null }) {
  const { task: t } = useTask(id);
  return createElement('span', null, t?.message ?? 'none');
}

const scenarios = {
  /** useTask: one watch under StrictMode, live updates, id switch, null, unmount. */
  async useTask() {
    const f = fake();
    const m = mount(createElement(TaskPulseProvider, { client: f.client }, createElement(Show, { id: 'a' })));
    await settle(() => text(m.el) === 'a v0' && f.open().length > 0);
    const out: Record<string, unknown> = { first: text(m.el), opened: f.watches.map((w) => w.key), subscribed: f.open() };
    f.watches[0]!.watch.set({ task: task({ id: 'a', message: 'a v1' }), loading: false, error: undefined });
    await settle(() => text(m.el) === 'a v1');
    out.updated = text(m.el);
    m.render(createElement(TaskPulseProvider, { client: f.client }, createElement(Show, { id: 'b' })));
    await settle(() => text(m.el) === 'b v0' && same(f.open(), ['task:b']));
    out.switched = text(m.el);
    out.subscribedAfterSwitch = f.open();
    m.render(createElement(TaskPulseProvider, { client: f.client }, createElement(Show, { id: null })));
    await settle(() => text(m.el) === 'none' && f.open().length === 0);
    out.nulled = text(m.el);
    out.subscribedAfterNull = f.open();
    m.root.unmount();
    out.subscribedAfterUnmount = f.open();
    out.totalOpened = f.watches.length;
    return out;
  },

  /** useTasks with an inline filter: re-renders keep one view; a real change opens another. */
  async useTasks() {
    const f = fake();
    let bump: (n: number) => void = () => {};
    function List({ type }: { type: string }) {
      const [, setN] = useState(0);
      bump = setN;
      const { tasks } = useTasks({ status: 'active', type });
      return createElement('span', null, String(tasks.length));
    }
    const m = mount(createElement(TaskPulseProvider, { client: f.client }, createElement(List, { type: 'x' })));
    await settle(() => f.open().length > 0);
    for (let i = 1; i <= 5; i++) {
      bump(i);
      await frame();
    }
    const afterRerenders = f.watches.map((w) => w.key);
    m.render(createElement(TaskPulseProvider, { client: f.client }, createElement(List, { type: 'y' })));
    await settle(() => same(f.open(), ['tasks:{"status":"active","type":"y"}']));
    const out = { afterRerenders, afterChange: f.watches.map((w) => w.key), subscribed: f.open(), shown: text(m.el) };
    m.root.unmount();
    return out;
  },

  /** useNotifications: one registration under StrictMode, the latest callback runs, unmount unregisters. */
  async useNotifications() {
    const f = fake();
    const got: string[] = [];
    let setLabel: (s: string) => void = () => {};
    function Toasts() {
      const [label, set] = useState('first');
      setLabel = set;
      useNotifications({ inbox: false, onComplete: (n) => got.push(`${label}:${n.taskId}`) });
      return null;
    }
    const m = mount(createElement(TaskPulseProvider, { client: f.client }, createElement(Toasts)));
    await settle(() => f.listeners.complete.size > 0);
    const active = f.listeners.complete.size;
    setLabel('second');
    await frame();
    await frame();
    for (const l of f.listeners.complete) l(notification({ taskId: 'tsk_9' }));
    const registrationsAfterRerender = f.registrations();
    m.root.unmount();
    return { active, got, registrationsAfterRerender, activeAfterUnmount: f.listeners.complete.size };
  },

  /** useInvalidateOnEvents with a real QueryClient: a completion refetches the app's query. */
  async useInvalidateOnEvents() {
    const f = fake();
    const qc = new QueryClient();
    let fetches = 0;
    function Results() {
      useInvalidateOnEvents([{ queryKey: ['results'] }], { delayMs: 0 });
      const { data } = useQuery({ queryKey: ['results', 1], queryFn: async () => ++fetches });
      return createElement('span', null, String(data ?? ''));
    }
    const m = mount(
      createElement(QueryClientProvider, { client: qc }, createElement(TaskPulseProvider, { client: f.client }, createElement(Results))),
    );
    await settle(() => text(m.el) === '1' && f.listeners.events.size > 0);
    const before = text(m.el);
    const subscribers = f.listeners.events.size;
    for (const l of f.listeners.events) l(event('task.updated'));
    await frame();
    await frame();
    const afterProgress = text(m.el);
    for (const l of f.listeners.events) {
      l(event('task.completed', {}, 11));
      l(event('task.completed', { id: 'tsk_2' }, 12));
    }
    await settle(() => text(m.el) === '2');
    const afterCompletion = text(m.el);
    m.root.unmount();
    return { before, subscribers, afterProgress, afterCompletion, fetches, subscribersAfterUnmount: f.listeners.events.size };
  },
};

declare global {
  interface Window {
    scenarios: typeof scenarios;
  }
}
window.scenarios = scenarios;
