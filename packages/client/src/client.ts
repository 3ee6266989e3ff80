/**
 * `createClient`: the public API, composed of one owner per idea — the status holder, the log
 * reader (the only cursor), the connection (leader or solo tab) or the tab session's forwarded
 * reads (follower tab), the view registry, notifications and credentials.
 */
import type { ListTasksResponse, Task, TaskEvent } from '@taskpulse/protocol';
import { type AuthEvent, createTokenSource } from './auth.ts';
import { type Connection, type ConnectionDiagnostics, createConnection } from './connection.ts';
import { type ConnectionStatus, ConnectionStatusHolder } from './connection-status.ts';
import { DeliveryHealth } from './delivery-health.ts';
import { defaultEnvironment, type Environment } from './environment.ts';
import { clientError } from './errors.ts';
import { type CallOptions, Http } from './http.ts';
import { listeners } from './listeners.ts';
import { LogReader } from './log-reader.ts';
import { createNotifications, type NotificationsApi } from './notifications.ts';
import { type ClientOptions, resolveOptions } from './options.ts';
import type { ConnectionState, StateChange, StateReason } from './state-machine.ts';
import { createTabSession, type TabSession } from './tab-session.ts';
import { filterToQuery, type TaskFilter } from './task-filter.ts';
import { ViewRegistry } from './view-registry.ts';
import type { TaskListView, TaskView, Watch } from './watch.ts';

export type Unsubscribe = () => void;

export type { ConnectionStatus } from './connection-status.ts';

/** `client.connection`. */
export interface ConnectionApi {
  readonly state: ConnectionState;
  readonly reason: StateReason;
  /** The current status: the same object until the state changes. */
  getSnapshot(): ConnectionStatus;
  /** Calls `listener` on every state change with `{previous, current, reason}`. */
  subscribe(listener: (change: StateChange) => void): Unsubscribe;
  /** Reads the log now and, if push is down, retries it now instead of at the next backoff step. */
  catchUp(): void;
}

/** `client.auth`: credential events, explicit (API.md: a 401 is never a silent downgrade). */
export interface AuthApi {
  subscribe(listener: (event: AuthEvent) => void): Unsubscribe;
}

/** A page of `listTasks`. */
export interface TaskPage {
  tasks: Task[];
  /** Pass as `cursor` for the next page; `null` on the last one. */
  nextCursor: string | null;
}

/** `client.diagnostics()`. */
export interface Diagnostics extends ConnectionDiagnostics {
  /** `solo` (own connection), `leader` (runs the connection for all tabs) or `follower`. */
  role: 'solo' | 'leader' | 'follower';
  /** Tasks held in memory. */
  tasksKnown: number;
  /** The last error of background work (a failed listener, a failed mark-read), if any. */
  lastError: string | null;
}

/** The TaskPulse client. */
export interface TaskPulseClient {
  /** The connection's state and its changes. */
  readonly connection: ConnectionApi;
  /** The user's inbox and exactly-once completion callbacks. */
  readonly notifications: NotificationsApi;
  /** Token expiry, refresh and refusal. */
  readonly auth: AuthApi;
  /**
   * A live view of one task: shown at once when the client already knows it, then loaded, then
   * kept current; it never moves backwards.
   */
  watchTask(id: string): Watch<TaskView>;
  /** A live view of the tasks matching `filter` (status, type, tag, parentId), newest first. */
  watchTasks(filter?: TaskFilter & { limit?: number }): Watch<TaskListView>;
  /** `GET /v1/tasks/:id`. */
  getTask(id: string, options?: CallOptions): Promise<Task>;
  /** `GET /v1/tasks`: one page. */
  listTasks(filter?: TaskFilter & { limit?: number; cursor?: string }, options?: CallOptions): Promise<TaskPage>;
  /** `POST /v1/tasks/:id/cancel`: asks for cancellation; returns the task. */
  cancel(id: string, options?: CallOptions): Promise<Task>;
  /** Every new event (task and notification), in `seq` order, exactly once. */
  onEvent(listener: (event: TaskEvent) => void): Unsubscribe;
  /** State, cursor, timings and delivery health, for debugging and support. */
  diagnostics(): Diagnostics;
  /** Stops the connection and every view. Idempotent; the same promise each time. */
  close(): Promise<void>;
}

/**
 * Creates a client.
 * @example
 * ```ts
 * const client = createClient({ url: 'https://tasks.example.com', getToken: () => api.viewerToken() });
 * const view = client.watchTask('tsk_123');
 * view.subscribe(({ task }) => render(task?.progress.percent));
 * client.notifications.onComplete((n) => toast(n.title));
 * ```
 */
export function createClient(options: ClientOptions): TaskPulseClient {
  // A closure rather than a class: the owners below are plain locals (a smaller bundle), and
  // every method is bound (`const { watchTask } = client` works).
  const config = resolveOptions(options);
  const env: Environment = { ...defaultEnvironment(), ...options.environment, ...(options.fetch ? { fetch: options.fetch } : {}) };
  const authListeners = listeners<AuthEvent>();
  const eventListeners = listeners<TaskEvent>();
  const inflight = new Map<string, Promise<Task>>();
  let tabs: TabSession | null = null;
  let connection: Connection | null = null;
  let closing: Promise<void> | null = null;
  let lastError: string | null = null;

  /** Errors of background work (a failed listener, a failed mark-read), for diagnostics. */
  const onError = (error: unknown): void => {
    lastError = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
  };
  const assertOpen = (): void => {
    if (closing !== null) throw clientError('closed');
  };

  const tokens = createTokenSource(config, env, (e) => authListeners.emit(e));
  const http = new Http(config.url, env, tokens, config.requestTimeoutMs);
  const health = new DeliveryHealth('connecting', env.now());
  const status = new ConnectionStatusHolder(health, env.now, onError);
  const views = new ViewRegistry(env);
  const reader = new LogReader(
    {
      /** New events (deduplicated, in order), whoever read them. */
      events(events, source) {
        if (source !== 'tab') {
          const now = env.now();
          for (const e of events) health.delivered(Date.parse(e.at), now);
        }
        for (const e of events) {
          if (e.task) views.apply(e.task);
          if (e.type.startsWith('notification.')) notifications.handleEvent(e);
          eventListeners.emit(e, onError);
        }
        tabs?.broadcast({ t: 'events', events });
      },
      snapshot(snapshot, reset, source) {
        views.snapshot(snapshot, reset);
        if (source === 'tab') return;
        tabs?.broadcast({ t: 'snapshot', snapshot, reset });
        notifications.start();
      },
      cursorAdvanced: (cursor) => tabs?.broadcast({ t: 'cursor', cursor }),
    },
    env.now,
  );

  /** Built once, so its functions are stable (React's `useSyncExternalStore` resubscribes on a new one). */
  const connectionApi: ConnectionApi = {
    get state() {
      return status.state;
    },
    get reason() {
      return status.current.reason;
    },
    getSnapshot: () => status.current,
    subscribe: (listener) => status.subscribe(listener),
    catchUp: () => (connection ? connection.catchUp() : tabs?.catchUp()),
  };

  const { locks, createChannel } = env;
  const shared = config.multiTab !== false && locks !== undefined && createChannel !== undefined;
  const notifications = createNotifications({
    http,
    env,
    connection: connectionApi,
    locks: shared ? locks : undefined,
    lockName: `${config.multiTab}:notify`,
    browserNotifications: config.browserNotifications,
    autoCloseMs: config.notificationAutoCloseMs,
    onError,
  });

  const startConnection = (): void => {
    const started = createConnection({
      config,
      env: tabs === null ? env : { ...env, visibility: tabs.visibility },
      http,
      reader,
      status,
      health,
      activeTasks: () => views.store.activeCount(),
    });
    connection = started;
    // Let the caller subscribe before the first state change.
    queueMicrotask(() => {
      if (closing === null) started.start();
    });
    // A tab that read its snapshot (and inbox) as a follower does not read the inbox again:
    // notifications after its cursor reach it as events.
    if (reader.cursor !== null && !notifications.started) notifications.start();
  };

  status.subscribe(({ current }) => {
    // The server answers again: views whose first load failed try once more.
    if (current === 'live' || current === 'polling') views.reloadFailed();
  });
  tokens.onProactiveRefresh(() => connection?.restartStream());
  if (shared) {
    tabs = createTabSession({
      config,
      env: { ...env, locks, createChannel },
      http,
      reader,
      status,
      lead: startConnection,
      catchUp: () => connection?.catchUp(),
      onError,
    });
  } else {
    startConnection();
  }

  const client: TaskPulseClient = {
    connection: connectionApi,
    notifications,
    auth: { subscribe: (listener) => authListeners.add(listener) },

    watchTask(id) {
      assertOpen();
      if (typeof id !== 'string' || id === '') throw new TypeError('watchTask needs a task id');
      // One request per task id at a time, however many views ask.
      return views.watchTask(id, (taskId) => {
        let pending = inflight.get(taskId);
        if (pending === undefined) {
          pending = client.getTask(taskId).finally(() => inflight.delete(taskId));
          inflight.set(taskId, pending);
        }
        return pending;
      });
    },

    watchTasks(filter = {}) {
      assertOpen();
      return views.watchTasks(filter, async (f) => (await client.listTasks({ ...f, limit: filter.limit ?? 100 })).tasks);
    },

    async getTask(id, options = {}) {
      assertOpen();
      const task = await http.json<Task>('GET', `/v1/tasks/${encodeURIComponent(id)}`, options);
      views.apply(task);
      return task;
    },

    async listTasks(filter = {}, options = {}) {
      assertOpen();
      const query = { ...filterToQuery(filter), limit: filter.limit, cursor: filter.cursor };
      const page = await http.json<ListTasksResponse>('GET', '/v1/tasks', { ...options, query });
      for (const task of page.tasks) views.apply(task);
      return { tasks: page.tasks, nextCursor: page.nextCursor ?? null };
    },

    async cancel(id, options = {}) {
      assertOpen();
      const task = await http.json<Task>('POST', `/v1/tasks/${encodeURIComponent(id)}/cancel`, { ...options, body: {} });
      views.apply(task);
      return task;
    },

    onEvent: (listener) => eventListeners.add(listener),

    diagnostics() {
      const role = tabs === null ? 'solo' : tabs.leader ? 'leader' : 'follower';
      // A follower reads nothing itself: the connection's figures are the idle ones.
      return {
        ...status.current,
        cursor: reader.cursor,
        lastEventAt: reader.lastEventAt,
        lastFreshAt: null,
        pollIntervalMs: null,
        heartbeatMs: config.heartbeatMs,
        reconnectAttempts: 0,
        streamTransport: 'none',
        requests: { streams: 0, polls: 0, catchUps: 0 },
        gapsRepaired: 0,
        delivery: health.totals(env.now()),
        ...connection?.diagnostics(),
        role,
        tasksKnown: views.store.size,
        lastError,
      };
    },

    close() {
      closing ??= (async () => {
        // Every step runs even if one throws.
        const steps: Array<() => void> = [() => connection?.close(), () => tabs?.close(), () => tokens.close(), () => notifications.close(), () => views.closeAll()];
        for (const step of steps) {
          try {
            step();
          } catch (error) {
            onError(error);
          }
        }
        status.set('closed', 'closed');
      })();
      return closing;
    },
  };
  return client;
}
