/**
 * The hooks' first render, in Node with react-dom/server (no DOM is installed): what a page
 * paints before any effect runs. Their live behaviour (subscriptions, StrictMode, reloads, two
 * tabs) is proved in real Chromium by e2e/web.test.ts through examples/web/react.
 */
import { createElement, type ReactNode } from 'react';
import { renderToString } from 'react-dom/server';
import { describe, expect, it } from 'vitest';
import { TaskPulseProvider, useConnectionState, useNotifications, useTask, useTaskPulseClient, useTasks } from '../src/index.ts';
import { fakeClient, task } from './support.ts';

function render(client: ReturnType<typeof fakeClient>['client'], child: ReactNode): string {
  return renderToString(createElement(TaskPulseProvider, { client }, child));
}

describe('hooks, first render', () => {
  it('useTask shows a task the client already holds on the first render (no blank bar)', () => {
    const { client, opened } = fakeClient([task({ id: 'tsk_a', progress: { done: 4, total: 10, percent: 40 } })]);
    function Bar() {
      const { task: t, loading } = useTask('tsk_a');
      return createElement('span', null, loading ? 'loading' : `${t?.progress.percent}%`);
    }
    expect(render(client, createElement(Bar))).toBe('<span>40%</span>');
    expect(opened.map((o) => [o.kind, o.arg])).toEqual([['task', 'tsk_a']]);
  });

  it('useTask(null) requests nothing', () => {
    const { client, opened } = fakeClient();
    function Empty() {
      const view = useTask(null);
      return createElement('span', null, JSON.stringify(view));
    }
    expect(render(client, createElement(Empty))).toContain('&quot;loading&quot;:false');
    expect(opened).toEqual([]);
  });

  it('useTasks passes the filter; useConnectionState reads the connection', () => {
    const { client, opened } = fakeClient([task({ id: 'tsk_a' }), task({ id: 'tsk_b' })], { state: 'polling', reason: 'watchdog' });
    function List() {
      const { tasks } = useTasks({ status: 'active', type: 'pdf-import' });
      const { state, reason } = useConnectionState();
      return createElement('span', null, `${tasks.length} ${state} ${reason}`);
    }
    expect(render(client, createElement(List))).toBe('<span>2 polling watchdog</span>');
    expect(opened[0]).toMatchObject({ kind: 'tasks', arg: { status: 'active', type: 'pdf-import' } });
  });

  it('useNotifications({inbox: false}) renders an empty inbox and requests nothing', () => {
    const { client } = fakeClient();
    function Inbox() {
      const { notifications, unreadCount, loading } = useNotifications({ inbox: false });
      return createElement('span', null, `${notifications.length} ${unreadCount} ${loading}`);
    }
    expect(render(client, createElement(Inbox))).toBe('<span>0 0 false</span>');
  });

  it('outside a provider, or with both client and options, the error says what to do', () => {
    function Orphan() {
      useTaskPulseClient();
      return null;
    }
    expect(() => renderToString(createElement(Orphan))).toThrow(/wrap this component in <TaskPulseProvider>/);
    const { client } = fakeClient();
    expect(() => renderToString(createElement(TaskPulseProvider, { client, options: { url: 'x', token: 't' } } as never))).toThrow(/exactly one of `client` and `options`/);
  });
});
