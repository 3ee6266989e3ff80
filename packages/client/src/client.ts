/**
 * `createClient`: the public API, composed of one owner per idea — the status holder, the log
 * reader (the only cursor), the connection (leader or solo tab) or the tab session's forwarded
 * reads (follower tab), the view registry, notifications and credentials.
 */
import type { ListTasksResponse, Snapshot, Task, TaskEvent } from '@taskpulse/protocol';
import { type AuthEvent, TokenSource } from './auth.ts';
import { type Connection, type ConnectionDiagnostics, createConnection } from './connection.ts';
import { type ConnectionStatus, ConnectionStatusHolder } from './connection-status.ts';
import { DeliveryHealth } from './delivery-health.ts';
import { defaultEnvironment, type Environment } from './environment.ts';
import { clientError } from './errors.ts';
import { type CallOptions, Http } from './http.ts';
import { listeners } from './listeners.ts';
import { type LogSource, LogReader } from './log-reader.ts';
import { Notifications, type NotificationsApi } from './notifications.ts';
import { type ClientConfig, type ClientOptions, resolveOptions } from './options.ts';
import type { ConnectionState, StateChange, StateReason } from './state-machine.ts';
import { TabSession } from './tab-session.ts';
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
  return new Client(options);
}

class Client implements TaskPulseClient {
  readonly #config: ClientConfig;
  readonly #env: Environment;
  readonly #tokens: TokenSource;
  readonly #http: Http;
  readonly #health: DeliveryHealth;
  readonly #status: ConnectionStatusHolder;
  readonly #views: ViewRegistry;
  readonly #reader: LogReader;
  readonly #notifications: Notifications;
  readonly #tabs: TabSession | null = null;
  #connection: Connection | null = null;
  #authListeners = listeners<AuthEvent>();
  #eventListeners = listeners<TaskEvent>();
  #closing: Promise<void> | null = null;
  #lastError: string | null = null;
  #inflight = new Map<string, Promise<Task>>();

  constructor(options: ClientOptions) {
    const config = (this.#config = resolveOptions(options));
    const env = (this.#env = { ...defaultEnvironment(), ...options.environment, ...(options.fetch ? { fetch: options.fetch } : {}) });
    const onError = this.#onError;
    this.#tokens = new TokenSource(config, env, (e) => this.#authListeners.emit(e));
    this.#http = new Http(config.url, env, this.#tokens, config.requestTimeoutMs);
    this.#health = new DeliveryHealth('connecting', env.now());
    this.#status = new ConnectionStatusHolder(this.#health, env.now, onError);
    this.#views = new ViewRegistry(env);
    this.#reader = new LogReader(
      {
        events: (events, source) => this.#onEvents(events, source),
        snapshot: (snapshot, reset, source) => this.#onSnapshot(snapshot, reset, source),
        cursorAdvanced: (cursor) => this.#tabs?.broadcast({ t: 'cursor', cursor }),
      },
      env.now,
    );
    const { locks, createChannel } = env;
    const shared = config.multiTab !== false && locks !== undefined && createChannel !== undefined;
    this.#notifications = new Notifications({
      http: this.#http,
      env,
      connection: this.connection,
      locks: shared ? locks : undefined,
      lockName: `${config.multiTab}:notify`,
      browserNotifications: config.browserNotifications,
      autoCloseMs: config.notificationAutoCloseMs,
      onError,
    });
    this.#status.subscribe(({ current }) => {
      // The server answers again: views whose first load failed try once more.
      if (current === 'live' || current === 'polling') this.#views.reloadFailed();
    });
    this.#tokens.onProactiveRefresh(() => this.#connection?.restartStream());
    if (shared) {
      this.#tabs = new TabSession({
        config,
        env: { ...env, locks, createChannel },
        http: this.#http,
        reader: this.#reader,
        status: this.#status,
        lead: () => this.#startConnection(),
        catchUp: () => this.#connection?.catchUp(),
        onError,
      });
    } else {
      this.#startConnection();
    }
  }

  // ------------------------------------------------------------------ public API

  /** Built once, so its functions are stable (React's `useSyncExternalStore` resubscribes on a new one). */
  readonly connection: ConnectionApi = createConnectionApi(this);

  get notifications(): NotificationsApi {
    return this.#notifications;
  }

  readonly auth: AuthApi = {
    subscribe: (listener) => this.#authListeners.add(listener),
  };

  /** @internal for {@link createConnectionApi} */
  _status(): ConnectionStatusHolder {
    return this.#status;
  }

  /** @internal */
  _catchUp(): void {
    if (this.#connection) this.#connection.catchUp();
    else this.#tabs?.catchUp();
  }

  watchTask(id: string): Watch<TaskView> {
    this.#assertOpen();
    if (typeof id !== 'string' || id === '') throw new TypeError('watchTask needs a task id');
    return this.#views.watchTask(id, (taskId) => this.#getShared(taskId));
  }

  watchTasks(filter: TaskFilter & { limit?: number } = {}): Watch<TaskListView> {
    this.#assertOpen();
    return this.#views.watchTasks(filter, async (f) => (await this.listTasks({ ...f, limit: filter.limit ?? 100 })).tasks);
  }

  async getTask(id: string, options: CallOptions = {}): Promise<Task> {
    this.#assertOpen();
    const task = await this.#http.json<Task>('GET', `/v1/tasks/${encodeURIComponent(id)}`, options);
    this.#views.apply(task);
    return task;
  }

  /** One request per task id at a time, however many views ask. */
  #getShared(id: string): Promise<Task> {
    let pending = this.#inflight.get(id);
    if (pending === undefined) {
      pending = this.getTask(id).finally(() => this.#inflight.delete(id));
      this.#inflight.set(id, pending);
    }
    return pending;
  }

  async listTasks(filter: TaskFilter & { limit?: number; cursor?: string } = {}, options: CallOptions = {}): Promise<TaskPage> {
    this.#assertOpen();
    const query = filterToQuery(filter);
    if (filter.limit !== undefined) query.set('limit', String(filter.limit));
    if (filter.cursor !== undefined) query.set('cursor', filter.cursor);
    const page = await this.#http.json<ListTasksResponse>('GET', '/v1/tasks', { ...options, query });
    for (const task of page.tasks) this.#views.apply(task);
    return { tasks: page.tasks, nextCursor: page.nextCursor ?? null };
  }

  async cancel(id: string, options: CallOptions = {}): Promise<Task> {
    this.#assertOpen();
    const task = await this.#http.json<Task>('POST', `/v1/tasks/${encodeURIComponent(id)}/cancel`, { ...options, body: {} });
    this.#views.apply(task);
    return task;
  }

  onEvent(listener: (event: TaskEvent) => void): Unsubscribe {
    return this.#eventListeners.add(listener);
  }

  diagnostics(): Diagnostics {
    const role = this.#tabs === null ? 'solo' : this.#tabs.leader ? 'leader' : 'follower';
    // A follower reads nothing itself: the connection's figures are the idle ones.
    const base: ConnectionDiagnostics = {
      ...this.#status.current,
      cursor: this.#reader.cursor,
      lastEventAt: this.#reader.lastEventAt,
      lastFreshAt: null,
      pollIntervalMs: null,
      heartbeatMs: this.#config.heartbeatMs,
      reconnectAttempts: 0,
      streamTransport: 'none',
      requests: { streams: 0, polls: 0, catchUps: 0 },
      gapsRepaired: 0,
      delivery: this.#health.totals(this.#env.now()),
      ...this.#connection?.diagnostics(),
    };
    return { ...base, role, tasksKnown: this.#views.store.size, lastError: this.#lastError };
  }

  close(): Promise<void> {
    this.#closing ??= (async () => {
      // Every step runs even if one throws.
      const steps: Array<() => void> = [
        () => this.#connection?.close(),
        () => this.#tabs?.close(),
        () => this.#tokens.close(),
        () => this.#notifications.close(),
        () => this.#views.closeAll(),
      ];
      for (const step of steps) {
        try {
          step();
        } catch (error) {
          this.#onError(error);
        }
      }
      this.#status.set('closed', 'closed');
    })();
    return this.#closing;
  }

  // ------------------------------------------------------------------ internals

  #assertOpen(): void {
    if (this.#closing !== null) throw clientError('closed');
  }

  /** Errors of background work (a failed listener, a failed mark-read), for diagnostics. */
  readonly #onError = (error: unknown): void => {
    this.#lastError = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
  };

  /** New events from the log reader (deduplicated, in order), whoever read them. */
  #onEvents(events: TaskEvent[], source: LogSource): void {
    if (source !== 'tab') {
      const now = this.#env.now();
      for (const e of events) this.#health.delivered(Date.parse(e.at), now);
    }
    for (const e of events) {
      if (e.task) this.#views.apply(e.task);
      if (e.type.startsWith('notification.')) this.#notifications.handleEvent(e);
      this.#eventListeners.emit(e, this.#onError);
    }
    this.#tabs?.broadcast({ t: 'events', events });
  }

  #onSnapshot(snapshot: Snapshot, reset: boolean, source: LogSource): void {
    this.#views.snapshot(snapshot, reset);
    if (source === 'tab') return;
    this.#tabs?.broadcast({ t: 'snapshot', snapshot, reset });
    this.#notifications.start();
  }

  #startConnection(): void {
    const connection = createConnection({
      config: this.#config,
      env: this.#tabs === null ? this.#env : { ...this.#env, visibility: this.#tabs.visibility },
      http: this.#http,
      reader: this.#reader,
      status: this.#status,
      health: this.#health,
      activeTasks: () => this.#views.store.activeCount(),
    });
    this.#connection = connection;
    // Let the caller subscribe before the first state change.
    queueMicrotask(() => {
      if (this.#closing === null) connection.start();
    });
    // A tab that read its snapshot (and inbox) as a follower does not read the inbox again:
    // notifications after its cursor reach it as events.
    if (this.#reader.cursor !== null && !this.#notifications.started) this.#notifications.start();
  }
}

function createConnectionApi(client: Client): ConnectionApi {
  return {
    get state() {
      return client._status().state;
    },
    get reason() {
      return client._status().current.reason;
    },
    getSnapshot: () => client._status().current,
    subscribe: (listener) => client._status().subscribe(listener),
    catchUp: () => client._catchUp(),
  };
}
