/**
 * One connection per browser and origin. The tabs elect a leader with a Web Lock (held as long
 * as the leader tab lives; the browser hands it to the next waiting tab when that tab closes or
 * crashes); the leader runs the connection and forwards what it reads over a BroadcastChannel.
 *
 * A follower shows its own snapshot at once, then applies what the leader forwards — through
 * the same log reader, so a forwarded event is applied once, in order. The leader polls as if
 * visible while any tab is visible (tabs announce their visibility; a closing tab says hidden).
 */
import type { Snapshot, TaskEvent } from '@taskpulse/protocol';
import { fullJitterMs } from '@taskpulse/protocol/retry';
import type { ConnectionStatusHolder } from './connection-status.ts';
import type { ChannelLike, Environment, LockManagerLike, VisibilitySource } from './environment.ts';
import { TaskPulseClientError } from './errors.ts';
import type { Http } from './http.ts';
import { listeners } from './listeners.ts';
import type { LogReader } from './log-reader.ts';
import type { ClientConfig } from './options.ts';
import { fetchSnapshot } from './snapshot.ts';
import type { StateChange } from './state-machine.ts';

/** What travels between tabs. */
export type TabMessage =
  | { t: 'events'; events: TaskEvent[] }
  | { t: 'snapshot'; snapshot: Snapshot; reset: boolean }
  | { t: 'cursor'; cursor: number }
  | { t: 'state'; change: StateChange }
  /** A follower asks the leader for its state (sent when it starts). */
  | { t: 'hello' }
  /** A follower asks the leader to read the log now. */
  | { t: 'catchup' }
  /** A tab's visibility (a closing tab says hidden): the leader polls for the most visible tab. */
  | { t: 'visibility'; tab: string; hidden: boolean }
  /** A new leader asks every tab to announce its visibility. */
  | { t: 'who' };

export interface TabSessionDeps {
  config: ClientConfig;
  env: Environment & { locks: LockManagerLike; createChannel: (name: string) => ChannelLike };
  http: Http;
  reader: LogReader;
  status: ConnectionStatusHolder;
  /** This tab now leads: start the connection (it reads with {@link TabSession.visibility}). */
  lead(): void;
  /** The leader's connection: read the log now. */
  catchUp(): void;
  onError(error: unknown): void;
}

/** The tab's part in the browser's one connection, as the client uses it. */
export interface TabSession {
  readonly leader: boolean;
  /**
   * The browser's visibility for the leader's connection: visible when any tab is, so a hidden
   * leader tab does not slow the polls a visible follower depends on.
   */
  readonly visibility: VisibilitySource;
  /** The leader forwards what it read. */
  broadcast(message: TabMessage): void;
  /** A follower asks the leader to read the log now. */
  catchUp(): void;
  close(): void;
}

export function createTabSession(deps: TabSessionDeps): TabSession {
  const { env, config, status, reader, http } = deps;
  const name = config.multiTab as string;
  const channel = env.createChannel(name);
  const abort = new AbortController();
  let release: (() => void) | null = null;
  let leader = false;
  let leading = false;
  let closed = false;
  let ready = false;
  let buffer: TabMessage[] = [];
  /** The follower's snapshot read while it is in flight. */
  let pending: Promise<unknown> | null = null;
  const id = Math.random().toString(36).slice(2);
  /** Followers' visibility, as the leader last heard it. */
  const hiddenTabs = new Map<string, boolean>();
  const visibilityListeners = listeners();
  let browserHidden: boolean | null = null;

  const post = (message: TabMessage): void => {
    if (!closed) channel.postMessage(message);
  };

  const announce = (hidden = env.visibility.hidden()): void => post({ t: 'visibility', tab: id, hidden });

  const visibility: VisibilitySource = {
    hidden: () => env.visibility.hidden() && [...hiddenTabs.values()].every(Boolean),
    subscribe: (listener) => visibilityListeners.add(listener),
  };

  function visibilityChanged(): void {
    const hidden = visibility.hidden();
    if (hidden === browserHidden) return; // one tab more or less visible: nothing changed
    browserHidden = hidden;
    visibilityListeners.emit();
  }

  function becomeLeader(): void {
    const lead = () => {
      if (closed || leading) return;
      // Resume from this tab's cursor; without one (its own snapshot is not in yet) the connection bootstraps.
      leading = true;
      buffer = [];
      ready = true;
      deps.lead();
      post({ t: 'who' });
    };
    // A lone tab usually wins the lock while its follower snapshot is still loading: let that
    // read finish (it sets the cursor) rather than have the connection read the snapshot again.
    const wait = reader.cursor === null ? pending : null;
    if (wait) void wait.then(lead, lead);
    else lead();
  }

  /** A follower shows its own snapshot at once, then applies what the leader forwards. */
  async function followerBootstrap(): Promise<void> {
    let attempt = 0;
    while (!closed && !leading) {
      try {
        // Read and apply as one step: a tab that wins the leader lock meanwhile waits for it
        // (see becomeLeader), so its connection resumes from this snapshot's head.
        const step = (async () => {
          const snapshot = await fetchSnapshot(http);
          if (leading || closed) return; // became leader meanwhile
          reader.snapshot(snapshot, false, 'own');
          ready = true;
          for (const m of buffer.splice(0)) onMessage(m);
        })();
        pending = step;
        await step.finally(() => (pending = null));
        return;
      } catch (error) {
        if (error instanceof TaskPulseClientError && !error.retryable && error.code !== 'unauthorized') deps.onError(error);
        const delay = fullJitterMs(attempt++, { baseMs: config.reconnectBaseMs, maxMs: config.reconnectMaxMs }, env.random);
        await new Promise<void>((r) => env.timers.setTimeout(r, delay));
      }
    }
  }

  function onMessage(message: TabMessage): void {
    if (leader) {
      if (message.t === 'hello') {
        const { state, reason } = status.current;
        post({ t: 'state', change: { previous: state, current: state, reason } });
      } else if (message.t === 'catchup') deps.catchUp();
      else if (message.t === 'visibility') {
        hiddenTabs.set(message.tab, message.hidden);
        visibilityChanged();
      }
      return;
    }
    if (message.t === 'who') return announce();
    if (message.t === 'state') return status.set(message.change.current, message.change.reason);
    if (!ready) {
      if (message.t === 'events' || message.t === 'snapshot' || message.t === 'cursor') buffer.push(message);
      return;
    }
    if (message.t === 'events') reader.events(message.events, 'tab');
    else if (message.t === 'snapshot') reader.snapshot(message.snapshot, message.reset, 'tab');
    else if (message.t === 'cursor') reader.advance(message.cursor, false);
  }

  channel.addEventListener('message', (event) => {
    const m = event.data as TabMessage | null;
    if (!closed && typeof m?.t === 'string') onMessage(m);
  });
  env.locks
    .request(`${name}:leader`, { signal: abort.signal }, () => {
      if (closed) return Promise.resolve();
      leader = true;
      becomeLeader();
      // Held until close(): the promise resolves only then.
      return new Promise<void>((resolve) => (release = resolve));
    })
    .catch(() => {
      // AbortError when closed while waiting: nothing to do.
    });
  post({ t: 'hello' });
  announce();
  const offs = [
    env.visibility.subscribe(() => {
      if (!leader) announce();
      visibilityChanged();
    }),
    status.subscribe((change) => {
      if (leader && change.current !== 'closed') post({ t: 'state', change });
    }),
  ];
  void followerBootstrap();

  return {
    get leader() {
      return leader;
    },
    visibility,
    broadcast(message) {
      if (leader) post(message);
    },
    catchUp: () => post({ t: 'catchup' }),
    close() {
      if (closed) return;
      announce(true); // a closing tab no longer needs fresh polls
      closed = true;
      for (const off of offs) off();
      abort.abort();
      release?.();
      channel.close();
    },
  };
}
