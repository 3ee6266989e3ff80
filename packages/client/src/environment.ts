/**
 * Everything the client needs from its host, as small structural types, so Node tests can pass
 * fakes and a browser passes nothing (the defaults read `globalThis`).
 */

/** The `fetch` the client calls; one custom function is the escape hatch for proxies and headers. */
export type FetchLike = (input: string, init?: RequestInit) => Promise<Response>;

/** Timer functions; inject fake ones in tests. */
export interface Timers {
  setTimeout(callback: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

/** Whether the page is hidden (`document.visibilityState`). */
export interface VisibilitySource {
  hidden(): boolean;
  /** Calls `listener` on every change; returns the unsubscribe function. */
  subscribe(listener: () => void): () => void;
}

/** Whether the network is up (`navigator.onLine` with `online`/`offline` events). */
export interface NetworkSource {
  online(): boolean;
  subscribe(listener: () => void): () => void;
}

/** The part of `navigator.locks` (Web Locks) used for leader election. */
export interface LockManagerLike {
  request(name: string, options: { signal?: AbortSignal }, callback: (lock: unknown) => Promise<void>): Promise<unknown>;
}

/** The part of `BroadcastChannel` used to share one connection between tabs. */
export interface ChannelLike {
  postMessage(message: unknown): void;
  addEventListener(type: 'message', listener: (event: { data: unknown }) => void): void;
  close(): void;
}

/** The part of the browser `Notification` API used for system notifications. */
export interface BrowserNotificationApi {
  readonly permission: string;
  requestPermission(): Promise<string>;
  new (title: string, options?: { body?: string; tag?: string; requireInteraction?: boolean }): { close(): void };
}

/** The part of `EventSource` used when `fetch` cannot stream a response body. */
export interface EventSourceLike {
  addEventListener(type: string, listener: (event: { data?: unknown; lastEventId?: string }) => void): void;
  onopen: ((event: unknown) => void) | null;
  onerror: ((event: unknown) => void) | null;
  close(): void;
}
export type EventSourceConstructor = new (url: string) => EventSourceLike;

/** The host facilities, each replaceable. */
export interface Environment {
  fetch: FetchLike;
  timers: Timers;
  now: () => number;
  random: () => number;
  /** Schedules a UI notification: `requestAnimationFrame` when present, else a microtask. */
  scheduleFrame: (callback: () => void) => void;
  visibility: VisibilitySource;
  network: NetworkSource;
  locks: LockManagerLike | undefined;
  createChannel: ((name: string) => ChannelLike) | undefined;
  EventSource: EventSourceConstructor | undefined;
  Notification: BrowserNotificationApi | undefined;
}

type Globals = typeof globalThis & {
  document?: { visibilityState?: string; addEventListener?: Function; removeEventListener?: Function };
  navigator?: { onLine?: boolean; locks?: LockManagerLike };
  addEventListener?: Function;
  removeEventListener?: Function;
  requestAnimationFrame?: (cb: () => void) => unknown;
  BroadcastChannel?: new (name: string) => ChannelLike;
  EventSource?: EventSourceConstructor;
  Notification?: BrowserNotificationApi;
};

const NEVER = () => () => {};

/** The host's timers (`setTimeout`/`clearTimeout`), called unbound as browsers require. */
export const defaultTimers: Timers = {
  setTimeout: (cb, ms) => setTimeout(cb, ms),
  clearTimeout: (h) => clearTimeout(h as ReturnType<typeof setTimeout>),
};

/** The host's facilities, read from `globalThis`; anything absent gets an inert stand-in. */
export function defaultEnvironment(): Environment {
  const g = globalThis as Globals;
  const doc = g.document;
  const visibility: VisibilitySource =
    doc && typeof doc.addEventListener === 'function'
      ? {
          hidden: () => doc.visibilityState === 'hidden',
          subscribe: (listener) => {
            doc.addEventListener!('visibilitychange', listener);
            return () => doc.removeEventListener?.('visibilitychange', listener);
          },
        }
      : { hidden: () => false, subscribe: NEVER };
  const network: NetworkSource =
    typeof g.addEventListener === 'function' && g.navigator && typeof g.navigator.onLine === 'boolean'
      ? {
          online: () => g.navigator!.onLine !== false,
          subscribe: (listener) => {
            g.addEventListener!('online', listener);
            g.addEventListener!('offline', listener);
            return () => {
              g.removeEventListener?.('online', listener);
              g.removeEventListener?.('offline', listener);
            };
          },
        }
      : { online: () => true, subscribe: NEVER };
  const raf = g.requestAnimationFrame;
  const BC = g.BroadcastChannel;
  return {
    fetch: (input, init) => g.fetch(input, init),
    timers: defaultTimers,
    now: () => Date.now(),
    random: Math.random,
    scheduleFrame: typeof raf === 'function' ? frameOrTimeout(raf.bind(g)) : (cb) => queueMicrotask(cb),
    visibility,
    network,
    locks: g.navigator?.locks,
    createChannel: typeof BC === 'function' ? (name) => new BC(name) : undefined,
    EventSource: g.EventSource,
    Notification: g.Notification,
  };
}

/**
 * `requestAnimationFrame`, but never later than 250 ms: browsers stop animation frames in hidden
 * tabs, and a view must still be current when the tab comes back.
 */
function frameOrTimeout(raf: (cb: () => void) => unknown): (callback: () => void) => void {
  return (callback) => {
    let done = false;
    const run = () => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      callback();
    };
    const timer = setTimeout(run, 250);
    raf(run);
  };
}
