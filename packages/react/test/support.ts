/** Test doubles: a task factory, a fake watch, and a fake client with just what the hooks use. */
import { makeTask } from '../../client/test/support/fake-server.ts';
import type { ConnectionStatus, Notification, StateChange, Task, TaskEvent, TaskListView, TaskPulseClient, TaskView, Watch } from '@taskpulse/client';

/** A task as the React tests expect it: the client suite's factory with this suite's defaults. */
export function task(over: Partial<Task> = {}): Task {
  return makeTask('tsk_1', {
    type: 'pdf-import',
    owner: 'u1',
    progress: { done: 4, total: 10, percent: 40 },
    message: 'page 4/10',
    updatedAt: '2026-11-23T10:00:01.000Z',
    seq: 7,
    ...over,
  });
}

export function event(type: TaskEvent['type'], over: Partial<Task> = {}, seq = 10): TaskEvent {
  const t = task(over);
  return { seq, type, at: '2026-11-23T10:00:02.000Z', taskId: t.id, task: t };
}

export function notification(over: Partial<Notification> = {}): Notification {
  return {
    id: 'ntf_1',
    seq: 20,
    owner: 'u1',
    taskId: 'tsk_1',
    kind: 'completed',
    title: 'pdf-import finished',
    body: '',
    createdAt: '2026-11-23T10:00:03.000Z',
    readAt: null,
    ...over,
  };
}

/** A watch whose value the test sets. */
export class FakeWatch<T> implements Watch<T> {
  listeners = new Set<(v: T) => void>();
  closed = false;
  constructor(public value: T) {}
  getSnapshot = () => this.value;
  subscribe = (l: (v: T) => void) => {
    this.listeners.add(l);
    return () => this.listeners.delete(l);
  };
  set(v: T): void {
    this.value = v;
    for (const l of this.listeners) l(v);
  }
  close(): void {
    this.closed = true;
    this.listeners.clear();
  }
  [Symbol.asyncIterator](): AsyncIterator<T> {
    throw new Error('not used');
  }
}

/** A client with known tasks; records the watches it opens. */
export function fakeClient(known: Task[] = [], status: ConnectionStatus = { state: 'live', reason: 'stream_open' }) {
  const opened: Array<{ kind: 'task' | 'tasks'; arg: unknown; watch: FakeWatch<unknown> }> = [];
  const stateListeners = new Set<(c: StateChange) => void>();
  const client = {
    watchTask(id: string) {
      const t = known.find((k) => k.id === id);
      const watch = new FakeWatch<TaskView>({ task: t, loading: t === undefined, error: undefined });
      opened.push({ kind: 'task', arg: id, watch: watch as FakeWatch<unknown> });
      return watch;
    },
    watchTasks(filter: unknown) {
      const watch = new FakeWatch<TaskListView>({ tasks: known, loading: false, error: undefined });
      opened.push({ kind: 'tasks', arg: filter, watch: watch as FakeWatch<unknown> });
      return watch;
    },
    connection: {
      state: status.state,
      reason: status.reason,
      getSnapshot: () => status,
      subscribe: (l: (c: StateChange) => void) => {
        stateListeners.add(l);
        return () => stateListeners.delete(l);
      },
      catchUp: () => {},
    },
  };
  return { client: client as unknown as TaskPulseClient, opened, stateListeners };
}
