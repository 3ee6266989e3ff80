/** Web Locks and BroadcastChannel stand-ins shared by several clients ("tabs") in one test. */
import type { ChannelLike, LockManagerLike } from '../../src/environment.ts';

interface Waiter {
  callback: (lock: unknown) => Promise<void>;
  resolve: (v: unknown) => void;
  reject: (e: unknown) => void;
  signal?: AbortSignal;
}

export class FakeLocks implements LockManagerLike {
  #held = new Map<string, boolean>();
  #queues = new Map<string, Waiter[]>();

  request(name: string, options: { signal?: AbortSignal }, callback: (lock: unknown) => Promise<void>): Promise<unknown> {
    return new Promise((resolve, reject) => {
      const waiter: Waiter = { callback, resolve, reject, signal: options.signal };
      const queue = this.#queues.get(name) ?? [];
      this.#queues.set(name, queue);
      queue.push(waiter);
      options.signal?.addEventListener('abort', () => {
        const i = queue.indexOf(waiter);
        if (i >= 0) {
          queue.splice(i, 1);
          reject(new DOMException('aborted', 'AbortError'));
        }
      });
      this.#next(name);
    });
  }

  #next(name: string): void {
    if (this.#held.get(name)) return;
    const waiter = this.#queues.get(name)?.shift();
    if (!waiter) return;
    this.#held.set(name, true);
    queueMicrotask(() => {
      Promise.resolve()
        .then(() => waiter.callback({ name }))
        .then(waiter.resolve, waiter.reject)
        .finally(() => {
          this.#held.set(name, false);
          this.#next(name);
        });
    });
  }
}

/** A BroadcastChannel world: messages reach every other channel of the same name, copied, asynchronously. */
export function channelWorld(): (name: string) => ChannelLike {
  const channels = new Map<string, Set<FakeChannel>>();
  class FakeChannel implements ChannelLike {
    #listeners = new Set<(event: { data: unknown }) => void>();
    #closed = false;
    constructor(readonly name: string) {
      const set = channels.get(name) ?? new Set();
      channels.set(name, set);
      set.add(this);
    }
    postMessage(message: unknown): void {
      if (this.#closed) throw new Error('closed channel');
      const copy = structuredClone(message);
      for (const other of channels.get(this.name) ?? []) {
        if (other !== this) queueMicrotask(() => other.#deliver(copy));
      }
    }
    addEventListener(_type: 'message', listener: (event: { data: unknown }) => void): void {
      this.#listeners.add(listener);
    }
    close(): void {
      this.#closed = true;
      channels.get(this.name)?.delete(this);
    }
    #deliver(data: unknown): void {
      if (this.#closed) return;
      for (const l of this.#listeners) l({ data });
    }
  }
  return (name) => new FakeChannel(name);
}

/** An unsigned JWT with the given `exp` (the client only reads it). */
export function fakeJwt(expMs: number, sub = 'user_1'): string {
  const b64 = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url');
  return `${b64({ alg: 'HS256', typ: 'JWT' })}.${b64({ sub, exp: Math.floor(expMs / 1000) })}.sig`;
}
