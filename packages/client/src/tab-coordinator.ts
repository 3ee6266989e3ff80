/**
 * One connection per browser and origin: the tabs elect a leader with a Web Lock (held as long
 * as the leader tab lives; the browser hands it to the next waiting tab when that tab closes or
 * crashes) and the leader forwards what it reads over a BroadcastChannel.
 */
import type { Snapshot, TaskEvent } from '@taskpulse/protocol';
import type { ChannelLike, LockManagerLike } from './environment.ts';
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

export interface TabHandlers {
  /** This tab now holds the lock: it must run the connection. */
  becameLeader(): void;
  message(message: TabMessage): void;
}

export class TabCoordinator {
  #channel: ChannelLike;
  #locks: LockManagerLike;
  #name: string;
  #handlers: TabHandlers;
  #abort = new AbortController();
  #release: (() => void) | null = null;
  #leader = false;
  #closed = false;

  constructor(name: string, locks: LockManagerLike, createChannel: (name: string) => ChannelLike, handlers: TabHandlers) {
    this.#name = name;
    this.#locks = locks;
    this.#handlers = handlers;
    this.#channel = createChannel(name);
    this.#channel.addEventListener('message', (event) => {
      if (!this.#closed && isTabMessage(event.data)) handlers.message(event.data);
    });
  }

  get leader(): boolean {
    return this.#leader;
  }

  /** Queues for the lock; `becameLeader` runs when this tab gets it. */
  start(): void {
    this.#locks
      .request(`${this.#name}:leader`, { signal: this.#abort.signal }, () => {
        if (this.#closed) return Promise.resolve();
        this.#leader = true;
        this.#handlers.becameLeader();
        // Held until close(): the promise resolves only then.
        return new Promise<void>((resolve) => {
          this.#release = resolve;
        });
      })
      .catch(() => {
        // AbortError when closed while waiting: nothing to do.
      });
  }

  post(message: TabMessage): void {
    if (!this.#closed) this.#channel.postMessage(message);
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#abort.abort();
    this.#release?.();
    this.#channel.close();
  }
}

function isTabMessage(value: unknown): value is TabMessage {
  return typeof value === 'object' && value !== null && typeof (value as { t?: unknown }).t === 'string';
}
