/**
 * `createClient`: composes the connection manager (or, in a follower tab, the leader's
 * broadcasts), the task store, live views, notifications and credentials into one object.
 */
import type { ListTasksResponse, Snapshot, Task, TaskEvent } from '@taskpulse/protocol';
import { fullJitterMs } from '@taskpulse/protocol/retry';
import { type AuthEvent, TokenSource } from './auth.ts';
import { Connection, type ConnectionDiagnostics } from './connection.ts';
import { Cursor } from './cursor.ts';
import { DeliveryHealth } from './delivery-health.ts';
import { defaultEnvironment, type Environment, type VisibilitySource } from './environment.ts';
import { clientError, TaskPulseClientError } from './errors.ts';
import { FrameBatcher } from './frame-batcher.ts';
import { type CallOptions, Http } from './http.ts';
import { Notifications, type NotificationsApi } from './notifications.ts';
import { type ClientConfig, type ClientOptions, resolveOptions } from './options.ts';
import type { ConnectionState, StateChange, StateReason } from './state-machine.ts';
import { TabCoordinator, type TabMessage } from './tab-coordinator.ts';
import { filterToQuery, type TaskFilter } from './task-filter.ts';
import { fetchSnapshot } from './snapshot.ts';
import { TaskStore } from './task-store.ts';
import { type BaseWatch, type TaskListView, TaskListWatch, type TaskView, TaskWatch, type Watch } from './watch.ts';

export type Unsubscribe = () => void;

/** Above this many tasks in memory, finished tasks that no view shows are forgotten. */
const MAX_UNWATCHED_TASKS = 5000;

/** The connection's state, as a stable snapshot. */
export interface ConnectionStatus {
  state: ConnectionState;
  reason: StateReason;
}

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
  readonly #store = new TaskStore();
  readonly #cursor = new Cursor();
  readonly #health: DeliveryHealth;
  readonly #batcher: FrameBatcher<string>;
  readonly #notifications: Notifications;
  readonly #tabs: TabCoordinator | null;
  #connection: Connection | null = null;
  #status: ConnectionStatus = { state: 'connecting', reason: 'start' };
  #stateListeners = new Set<(change: StateChange) => void>();
  #authListeners = new Set<(event: AuthEvent) => void>();
  #eventListeners = new Set<(event: TaskEvent) => void>();
  #taskWatches = new Map<string, Set<TaskWatch>>();
  #listWatches = new Set<TaskListWatch>();
  #closing: Promise<void> | null = null;
  #lastError: string | null = null;
  // follower tabs
  #followerReady = false;
  #followerBuffer: TabMessage[] = [];
  #lastEventAt: number | null = null;
  #pruneAt = MAX_UNWATCHED_TASKS;
  #inflight = new Map<string, Promise<Task>>();

  constructor(options: ClientOptions) {
    this.#config = resolveOptions(options);
    this.#env = { ...defaultEnvironment(), ...options.environment, ...(options.fetch ? { fetch: options.fetch } : {}) };
    this.#tokens = new TokenSource(this.#config, this.#env, (e) => this.#emitAuth(e));
    this.#http = new Http(this.#config.url, this.#env, this.#tokens, this.#config.requestTimeoutMs);
    this.#health = new DeliveryHealth('connecting', this.#env.now());
    this.#batcher = new FrameBatcher(this.#env.scheduleFrame, (ids) => this.#flush(ids));
    const { locks, createChannel } = this.#env;
    const shared = this.#config.multiTab !== false && locks !== undefined && createChannel !== undefined;
    this.#notifications = new Notifications({
      http: this.#http,
      env: this.#env,
      connection: this.connection,
      locks: shared ? locks : undefined,
      lockName: `${this.#config.multiTab}:notify`,
      browserNotifications: this.#config.browserNotifications,
      autoCloseMs: this.#config.notificationAutoCloseMs,
      onError: (error) => this.#recordError(error),
    });
    this.#tokens.onProactiveRefresh(() => this.#connection?.restartStream());
    if (shared) {
      this.#tabs = new TabCoordinator(this.#config.multiTab as string, locks, createChannel, {
        becameLeader: () => this.#becomeLeader(),
        message: (m) => this.#onTabMessage(m),
      });
      this.#tabs.start();
      this.#tabs.post({ t: 'hello' });
      this.#announceVisibility();
      void this.#followerBootstrap();
      this.#unsubscribeVisibility = this.#env.visibility.subscribe(() => {
        if (this.#tabs && !this.#tabs.leader) this.#announceVisibility();
        this.#visibilityChanged();
      });
    } else {
      this.#tabs = null;
      this.#startConnection();
    }
  }

  #unsubscribeVisibility: () => void = () => {};
  readonly #tabId = Math.random().toString(36).slice(2);
  /** Followers' visibility, as the leader last heard it. */
  #tabsHidden = new Map<string, boolean>();
  #visibilityListeners = new Set<() => void>();
  #browserHidden: boolean | null = null;

  /**
   * The leader's connection sees the browser as visible when any tab is: a hidden leader tab
   * must not slow the polls a visible follower depends on.
   */
  #browserVisibility: VisibilitySource = {
    hidden: () => this.#env.visibility.hidden() && [...this.#tabsHidden.values()].every(Boolean),
    subscribe: (listener) => {
      this.#visibilityListeners.add(listener);
      return () => this.#visibilityListeners.delete(listener);
    },
  };

  #announceVisibility(hidden = this.#env.visibility.hidden()): void {
    this.#tabs?.post({ t: 'visibility', tab: this.#tabId, hidden });
  }

  #visibilityChanged(): void {
    const hidden = this.#browserVisibility.hidden();
    if (hidden === this.#browserHidden) return; // one tab more or less visible: nothing changed
    this.#browserHidden = hidden;
    for (const listener of [...this.#visibilityListeners]) listener();
  }

  // ------------------------------------------------------------------ public API

  /** Built once, so its functions are stable (React's `useSyncExternalStore` resubscribes on a new one). */
  readonly connection: ConnectionApi = createConnectionApi(this);

  get notifications(): NotificationsApi {
    return this.#notifications;
  }

  readonly auth: AuthApi = {
    subscribe: (listener) => {
      this.#authListeners.add(listener);
      return () => this.#authListeners.delete(listener);
    },
  };

  /** @internal for {@link createConnectionApi} */
  _status(): ConnectionStatus {
    return this.#status;
  }

  /** @internal */
  _subscribeState(listener: (change: StateChange) => void): Unsubscribe {
    this.#stateListeners.add(listener);
    return () => this.#stateListeners.delete(listener);
  }

  /** @internal */
  _catchUp(): void {
    if (this.#connection) this.#connection.catchUp();
    else this.#tabs?.post({ t: 'catchup' });
  }

  watchTask(id: string): Watch<TaskView> {
    this.#assertOpen();
    if (typeof id !== 'string' || id === '') throw new TypeError('watchTask needs a task id');
    const watch = new TaskWatch(this.#host, id, (taskId) => this.#getShared(taskId));
    let set = this.#taskWatches.get(id);
    if (set === undefined) this.#taskWatches.set(id, (set = new Set()));
    set.add(watch);
    return watch;
  }

  watchTasks(filter: TaskFilter & { limit?: number } = {}): Watch<TaskListView> {
    this.#assertOpen();
    const watch = new TaskListWatch(this.#host, filter, async (f) => (await this.listTasks({ ...f, limit: filter.limit ?? 100 })).tasks);
    this.#listWatches.add(watch);
    return watch;
  }

  async getTask(id: string, options: CallOptions = {}): Promise<Task> {
    this.#assertOpen();
    const task = await this.#http.json<Task>('GET', `/v1/tasks/${encodeURIComponent(id)}`, options);
    this.#applyTask(task);
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
    for (const task of page.tasks) this.#applyTask(task);
    return { tasks: page.tasks, nextCursor: page.nextCursor ?? null };
  }

  async cancel(id: string, options: CallOptions = {}): Promise<Task> {
    this.#assertOpen();
    const task = await this.#http.json<Task>('POST', `/v1/tasks/${encodeURIComponent(id)}/cancel`, { ...options, body: {} });
    this.#applyTask(task);
    return task;
  }

  onEvent(listener: (event: TaskEvent) => void): Unsubscribe {
    this.#eventListeners.add(listener);
    return () => this.#eventListeners.delete(listener);
  }

  diagnostics(): Diagnostics {
    const role = this.#tabs === null ? 'solo' : this.#tabs.leader ? 'leader' : 'follower';
    const base: ConnectionDiagnostics = this.#connection?.diagnostics() ?? {
      state: this.#status.state,
      reason: this.#status.reason,
      cursor: this.#cursor.value,
      lastEventAt: this.#lastEventAt,
      lastFreshAt: null,
      pollIntervalMs: null,
      heartbeatMs: this.#config.heartbeatMs,
      reconnectAttempts: 0,
      streamTransport: 'none',
      requests: { streams: 0, polls: 0, catchUps: 0 },
      gapsRepaired: 0,
      delivery: this.#health.totals(this.#env.now()),
    };
    return { ...base, role, tasksKnown: this.#store.size, lastError: this.#lastError };
  }

  close(): Promise<void> {
    this.#closing ??= (async () => {
      // Every step runs even if one throws.
      const steps: Array<() => void> = [
        () => this.#connection?.close(),
        () => this.#announceVisibility(true), // a closing tab no longer needs fresh polls
        () => this.#tabs?.close(),
        () => this.#tokens.close(),
        () => this.#notifications.close(),
        () => this.#unsubscribeVisibility(),
        () => {
          for (const set of this.#taskWatches.values()) for (const w of [...set]) w.close();
          for (const w of [...this.#listWatches]) w.close();
        },
      ];
      for (const step of steps) {
        try {
          step();
        } catch (error) {
          this.#recordError(error);
        }
      }
      this.#setStatus('closed', 'closed');
    })();
    return this.#closing;
  }

  // ------------------------------------------------------------------ internals

  #host = {
    store: this.#store,
    unregister: (watch: BaseWatch<unknown>) => {
      if (watch instanceof TaskWatch) this.#taskWatches.get(watch.id)?.delete(watch);
      else if (watch instanceof TaskListWatch) this.#listWatches.delete(watch);
    },
  };

  #assertOpen(): void {
    if (this.#closing !== null) throw clientError('closed');
  }

  #recordError(error: unknown): void {
    this.#lastError = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
  }

  #emitAuth(event: AuthEvent): void {
    for (const listener of [...this.#authListeners]) listener(event);
  }

  #setStatus(state: ConnectionState, reason: StateReason): void {
    const previous = this.#status.state;
    if (previous === state) return;
    this.#status = { state, reason };
    this.#health.state(state, this.#env.now());
    if (state === 'live' || state === 'polling') {
      // The server answers again: views whose first load failed try once more.
      for (const set of this.#taskWatches.values()) for (const w of set) if (w.failed && w.getSnapshot().error?.code !== 'not_found') w.reload();
      for (const w of this.#listWatches) if (w.failed) w.reload();
    }
    for (const listener of [...this.#stateListeners]) {
      try {
        listener({ previous, current: state, reason });
      } catch (error) {
        this.#recordError(error);
      }
    }
  }

  #applyTask(task: Task): void {
    if (!this.#store.upsert(task)) return;
    this.#batcher.mark(task.id);
    if (this.#store.size > this.#pruneAt) {
      this.#prune();
      // What is left is active or shown: look again only when it has doubled.
      this.#pruneAt = Math.max(MAX_UNWATCHED_TASKS, this.#store.size * 2);
    }
  }

  /** Forgets finished tasks no view shows, so a long-lived staff page does not grow without bound. */
  #prune(): void {
    for (const task of [...this.#store.values()]) {
      if (task.status === 'queued' || task.status === 'running') continue;
      if (this.#taskWatches.get(task.id)?.size) continue;
      if ([...this.#listWatches].some((w) => w.holds(task.id))) continue;
      this.#store.delete(task.id);
    }
  }

  #flush(ids: ReadonlySet<string>): void {
    for (const id of ids) for (const w of this.#taskWatches.get(id) ?? []) w.refresh(ids);
    for (const w of this.#listWatches) w.refresh(ids);
  }

  /** Events accepted by the cursor, from the connection or the leader tab. */
  #onEvents(events: TaskEvent[]): void {
    this.#lastEventAt = this.#env.now();
    for (const e of events) {
      if (e.task) this.#applyTask(e.task);
      if (e.type.startsWith('notification.')) this.#notifications.handleEvent(e);
      for (const listener of [...this.#eventListeners]) {
        try {
          listener(e);
        } catch (error) {
          this.#recordError(error);
        }
      }
    }
  }

  #onSnapshot(snapshot: Snapshot, reset: boolean): void {
    if (reset) {
      // Whatever is not in the new snapshot may be stale: forget it; the views load it again.
      const keep = new Set(snapshot.tasks.map((t) => t.id));
      for (const task of [...this.#store.values()]) if (!keep.has(task.id)) this.#store.delete(task.id);
    }
    for (const task of snapshot.tasks) {
      if (reset) {
        this.#store.replace(task);
        this.#batcher.mark(task.id);
      } else this.#applyTask(task);
    }
    if (reset) {
      // The log no longer reaches back to our cursor: what we hold may be stale. Load it again.
      for (const set of this.#taskWatches.values()) for (const w of set) w.reload();
      for (const w of this.#listWatches) w.reload(true);
    }
  }

  #sink = {
    events: (events: TaskEvent[]) => {
      this.#onEvents(events);
      this.#tabs?.post({ t: 'events', events });
    },
    snapshot: (snapshot: Snapshot, reset: boolean) => {
      this.#onSnapshot(snapshot, reset);
      this.#tabs?.post({ t: 'snapshot', snapshot, reset });
      this.#notifications.start();
    },
    cursorAdvanced: (cursor: number) => this.#tabs?.post({ t: 'cursor', cursor }),
    state: (change: StateChange) => {
      this.#setStatus(change.current, change.reason);
      if (change.current !== 'closed') this.#tabs?.post({ t: 'state', change });
    },
    activeTasks: () => this.#store.activeCount(),
  };

  #startConnection(): void {
    const connection = new Connection({
      config: this.#config,
      env: this.#tabs === null ? this.#env : { ...this.#env, visibility: this.#browserVisibility },
      http: this.#http,
      cursor: this.#cursor,
      sink: this.#sink,
      health: this.#health,
    });
    this.#connection = connection;
    // Let the caller subscribe before the first state change.
    queueMicrotask(() => {
      if (this.#closing === null) connection.start();
    });
    // A tab that read its snapshot (and inbox) as a follower does not read the inbox again:
    // notifications after its cursor reach it as events.
    if (this.#cursor.value !== null && !this.#notifications.started) this.#notifications.start();
  }

  // ------------------------------------------------------------------ tabs

  #becomeLeader(): void {
    if (this.#closing !== null) return;
    const lead = () => {
      if (this.#closing !== null || this.#connection !== null) return;
      // Resume from this tab's cursor; without one (its own snapshot is not in yet) the connection bootstraps.
      this.#followerBuffer = [];
      this.#followerReady = true;
      this.#startConnection();
      this.#tabs?.post({ t: 'who' });
    };
    // A lone tab usually wins the lock while its follower snapshot is still loading: let that
    // read finish (it sets the cursor) rather than have the connection read the snapshot again.
    const pending = this.#cursor.value === null ? this.#pendingSnapshot : null;
    if (pending) void pending.then(lead, lead);
    else lead();
  }

  /** The follower's snapshot read while it is in flight. */
  #pendingSnapshot: Promise<unknown> | null = null;

  /** A follower shows its own snapshot at once, then applies what the leader forwards. */
  async #followerBootstrap(): Promise<void> {
    let attempt = 0;
    while (this.#closing === null && this.#connection === null) {
      try {
        // Read and apply as one step: a tab that wins the leader lock meanwhile waits for it
        // (see #becomeLeader), so its connection resumes from this snapshot's head.
        const step = (async () => {
          const snapshot = await fetchSnapshot(this.#http);
          if (this.#connection !== null || this.#closing !== null) return; // became leader meanwhile
          this.#cursor.resetTo(snapshot.head);
          this.#onSnapshot(snapshot, false);
          this.#followerReady = true;
          this.#notifications.start();
          for (const m of this.#followerBuffer.splice(0)) this.#onTabMessage(m);
        })();
        this.#pendingSnapshot = step;
        await step.finally(() => (this.#pendingSnapshot = null));
        return;
      } catch (error) {
        if (error instanceof TaskPulseClientError && !error.retryable && error.code !== 'unauthorized') {
          this.#recordError(error);
        }
        const delay = fullJitterMs(attempt++, { baseMs: this.#config.reconnectBaseMs, maxMs: this.#config.reconnectMaxMs }, this.#env.random);
        await new Promise<void>((r) => this.#env.timers.setTimeout(r, delay));
      }
    }
  }

  #onTabMessage(message: TabMessage): void {
    if (this.#closing !== null) return;
    const leader = this.#tabs?.leader === true;
    if (leader) {
      if (message.t === 'hello') this.#tabs?.post({ t: 'state', change: { previous: this.#status.state, current: this.#status.state, reason: this.#status.reason } });
      else if (message.t === 'catchup') this.#connection?.catchUp();
      else if (message.t === 'visibility') {
        this.#tabsHidden.set(message.tab, message.hidden);
        this.#visibilityChanged();
      }
      return;
    }
    if (message.t === 'who') return this.#announceVisibility();
    if (message.t === 'state') return this.#setStatus(message.change.current, message.change.reason);
    if (!this.#followerReady) {
      if (message.t === 'events' || message.t === 'snapshot' || message.t === 'cursor') this.#followerBuffer.push(message);
      return;
    }
    switch (message.t) {
      case 'events': {
        const fresh = message.events.filter((e) => this.#cursor.accept(e.seq));
        if (fresh.length > 0) this.#onEvents(fresh);
        return;
      }
      case 'snapshot':
        if (message.reset) this.#cursor.resetTo(message.snapshot.head);
        else this.#cursor.advanceTo(message.snapshot.head);
        this.#onSnapshot(message.snapshot, message.reset);
        return;
      case 'cursor':
        this.#cursor.advanceTo(message.cursor);
        return;
      default:
    }
  }
}

function createConnectionApi(client: Client): ConnectionApi {
  return {
    get state() {
      return client._status().state;
    },
    get reason() {
      return client._status().reason;
    },
    getSnapshot: () => client._status(),
    subscribe: (listener) => client._subscribeState(listener),
    catchUp: () => client._catchUp(),
  };
}
