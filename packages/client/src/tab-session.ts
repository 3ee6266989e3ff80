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

export class TabSession {
  #deps: TabSessionDeps;
  #channel: ChannelLike;
  #abort = new AbortController();
  #release: (() => void) | null = null;
  #leader = false;
  #leading = false;
  #closed = false;
  #ready = false;
  #buffer: TabMessage[] = [];
  /** The follower's snapshot read while it is in flight. */
  #pending: Promise<unknown> | null = null;
  readonly #id = Math.random().toString(36).slice(2);
  /** Followers' visibility, as the leader last heard it. */
  #hidden = new Map<string, boolean>();
  #visibilityListeners = listeners();
  #browserHidden: boolean | null = null;
  #offs: Array<() => void>;

  constructor(deps: TabSessionDeps) {
    this.#deps = deps;
    const { env, config, status } = deps;
    const name = config.multiTab as string;
    this.#channel = env.createChannel(name);
    this.#channel.addEventListener('message', (event) => {
      const m = event.data as TabMessage | null;
      if (!this.#closed && typeof m?.t === 'string') this.#onMessage(m);
    });
    env.locks
      .request(`${name}:leader`, { signal: this.#abort.signal }, () => {
        if (this.#closed) return Promise.resolve();
        this.#leader = true;
        this.#becomeLeader();
        // Held until close(): the promise resolves only then.
        return new Promise<void>((resolve) => (this.#release = resolve));
      })
      .catch(() => {
        // AbortError when closed while waiting: nothing to do.
      });
    this.#post({ t: 'hello' });
    this.#announce();
    this.#offs = [
      env.visibility.subscribe(() => {
        if (!this.#leader) this.#announce();
        this.#visibilityChanged();
      }),
      status.subscribe((change) => {
        if (this.#leader && change.current !== 'closed') this.#post({ t: 'state', change });
      }),
    ];
    void this.#followerBootstrap();
  }

  get leader(): boolean {
    return this.#leader;
  }

  /**
   * The browser's visibility for the leader's connection: visible when any tab is, so a hidden
   * leader tab does not slow the polls a visible follower depends on.
   */
  readonly visibility: VisibilitySource = {
    hidden: () => this.#deps.env.visibility.hidden() && [...this.#hidden.values()].every(Boolean),
    subscribe: (listener) => this.#visibilityListeners.add(listener),
  };

  /** The leader forwards what it read. */
  broadcast(message: TabMessage): void {
    if (this.#leader) this.#post(message);
  }

  /** A follower asks the leader to read the log now. */
  catchUp(): void {
    this.#post({ t: 'catchup' });
  }

  close(): void {
    if (this.#closed) return;
    this.#announce(true); // a closing tab no longer needs fresh polls
    this.#closed = true;
    for (const off of this.#offs) off();
    this.#abort.abort();
    this.#release?.();
    this.#channel.close();
  }

  #post(message: TabMessage): void {
    if (!this.#closed) this.#channel.postMessage(message);
  }

  #announce(hidden = this.#deps.env.visibility.hidden()): void {
    this.#post({ t: 'visibility', tab: this.#id, hidden });
  }

  #visibilityChanged(): void {
    const hidden = this.visibility.hidden();
    if (hidden === this.#browserHidden) return; // one tab more or less visible: nothing changed
    this.#browserHidden = hidden;
    this.#visibilityListeners.emit();
  }

  #becomeLeader(): void {
    const lead = () => {
      if (this.#closed || this.#leading) return;
      // Resume from this tab's cursor; without one (its own snapshot is not in yet) the connection bootstraps.
      this.#leading = true;
      this.#buffer = [];
      this.#ready = true;
      this.#deps.lead();
      this.#post({ t: 'who' });
    };
    // A lone tab usually wins the lock while its follower snapshot is still loading: let that
    // read finish (it sets the cursor) rather than have the connection read the snapshot again.
    const pending = this.#deps.reader.cursor === null ? this.#pending : null;
    if (pending) void pending.then(lead, lead);
    else lead();
  }

  /** A follower shows its own snapshot at once, then applies what the leader forwards. */
  async #followerBootstrap(): Promise<void> {
    const { http, reader, env, config } = this.#deps;
    let attempt = 0;
    while (!this.#closed && !this.#leading) {
      try {
        // Read and apply as one step: a tab that wins the leader lock meanwhile waits for it
        // (see #becomeLeader), so its connection resumes from this snapshot's head.
        const step = (async () => {
          const snapshot = await fetchSnapshot(http);
          if (this.#leading || this.#closed) return; // became leader meanwhile
          reader.snapshot(snapshot, false, 'own');
          this.#ready = true;
          for (const m of this.#buffer.splice(0)) this.#onMessage(m);
        })();
        this.#pending = step;
        await step.finally(() => (this.#pending = null));
        return;
      } catch (error) {
        if (error instanceof TaskPulseClientError && !error.retryable && error.code !== 'unauthorized') this.#deps.onError(error);
        const delay = fullJitterMs(attempt++, { baseMs: config.reconnectBaseMs, maxMs: config.reconnectMaxMs }, env.random);
        await new Promise<void>((r) => env.timers.setTimeout(r, delay));
      }
    }
  }

  #onMessage(message: TabMessage): void {
    const { reader, status } = this.#deps;
    if (this.#leader) {
      if (message.t === 'hello') {
        const { state, reason } = status.current;
        this.#post({ t: 'state', change: { previous: state, current: state, reason } });
      } else if (message.t === 'catchup') this.#deps.catchUp();
      else if (message.t === 'visibility') {
        this.#hidden.set(message.tab, message.hidden);
        this.#visibilityChanged();
      }
      return;
    }
    if (message.t === 'who') return this.#announce();
    if (message.t === 'state') return status.set(message.change.current, message.change.reason);
    if (!this.#ready) {
      if (message.t === 'events' || message.t === 'snapshot' || message.t === 'cursor') this.#buffer.push(message);
      return;
    }
    if (message.t === 'events') reader.events(message.events, 'tab');
    else if (message.t === 'snapshot') reader.snapshot(message.snapshot, message.reset, 'tab');
    else if (message.t === 'cursor') reader.advance(message.cursor, false);
  }
}
