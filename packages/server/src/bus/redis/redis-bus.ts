/**
 * The bus between server instances: Redis pub/sub on one channel.
 *
 * Each instance publishes the events it committed; every other instance's hub is woken by them.
 * This instance's own events are delivered to its listeners at once (no round trip through
 * Redis), and its own messages coming back from Redis are ignored. Pub/sub is fire-and-forget:
 * a message lost while Redis is away is not redelivered — the next event shows the hub a gap,
 * and the hub reads the missing events from the store (storage is the truth, dedup by `seq`).
 */
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import type { StoredEvent } from '../../store/store.ts';
import type { Bus } from '../bus.ts';

export interface RedisBusOptions {
  /** `redis://host:6379/0` */
  url: string;
  /** Pub/sub channel shared by the instances of one deployment. @defaultValue 'taskpulse:events' */
  channel?: string;
  /** `ping()` fails when Redis does not answer within this. @defaultValue 2000 */
  pingTimeoutMs?: number;
}

export const REDIS_BUS_DEFAULTS = Object.freeze({ channel: 'taskpulse:events', pingTimeoutMs: 2000 });

interface Message {
  /** The publishing instance. */
  from: string;
  events: StoredEvent[];
}

export class RedisBus implements Bus {
  readonly #pub: Redis;
  readonly #sub: Redis;
  readonly #channel: string;
  readonly #pingTimeoutMs: number;
  readonly #id = randomUUID();
  readonly #listeners = new Set<(events: StoredEvent[]) => void>();
  /** Other instances' events come over Redis pub/sub, which may lose a message. */
  readonly crossInstance = true;
  #closing: Promise<void> | null = null;

  /** Connects and subscribes; rejects when Redis is unreachable. */
  static async connect(options: RedisBusOptions): Promise<RedisBus> {
    const bus = new RedisBus(options);
    try {
      await Promise.all([bus.#pub.connect(), bus.#sub.connect()]);
      await bus.#sub.subscribe(bus.#channel);
    } catch (error) {
      await bus.close();
      throw new Error(`--redis-url: cannot reach Redis: ${(error as Error).message}`, { cause: error });
    }
    return bus;
  }

  private constructor(options: RedisBusOptions) {
    if (typeof options.url !== 'string' || options.url === '') throw new Error('`url` must be a Redis URL');
    const channel = options.channel ?? REDIS_BUS_DEFAULTS.channel;
    if (typeof channel !== 'string' || channel === '') throw new Error(`\`channel\` must be a non-empty string, got ${String(channel)}`);
    const pingTimeoutMs = options.pingTimeoutMs ?? REDIS_BUS_DEFAULTS.pingTimeoutMs;
    if (!Number.isInteger(pingTimeoutMs) || pingTimeoutMs <= 0) throw new Error(`\`pingTimeoutMs\` must be a positive integer, got ${pingTimeoutMs}`);
    this.#channel = channel;
    this.#pingTimeoutMs = pingTimeoutMs;
    // ioredis reconnects on its own (and re-subscribes the subscriber); lazyConnect lets connect() report the first failure.
    this.#pub = new Redis(options.url, { lazyConnect: true, maxRetriesPerRequest: 2 });
    this.#sub = new Redis(options.url, { lazyConnect: true });
    // Errors are reported by ping() (/readyz); without a listener ioredis prints them.
    this.#pub.on('error', () => {});
    this.#sub.on('error', () => {});
    this.#sub.on('message', (channel: string, message: string) => {
      if (channel === this.#channel) this.#receive(message);
    });
  }

  publish(events: StoredEvent[]): void {
    if (events.length === 0) return;
    for (const l of this.#listeners) l(events);
    if (this.#closing) return;
    const message: Message = { from: this.#id, events };
    // Fire and forget: a lost message is a gap the other hubs fill from the store.
    this.#pub.publish(this.#channel, JSON.stringify(message)).catch(() => {});
  }

  subscribe(listener: (events: StoredEvent[]) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  async ping(): Promise<void> {
    if (this.#sub.status !== 'ready') throw new Error(`redis subscriber is ${this.#sub.status}`);
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        this.#pub.ping(),
        new Promise((_, reject) => {
          timer = setTimeout(() => reject(new Error(`redis did not answer within ${this.#pingTimeoutMs} ms`)), this.#pingTimeoutMs);
        }),
      ]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** Idempotent; disconnects both connections even if one fails. */
  close(): Promise<void> {
    return (this.#closing ??= (async () => {
      this.#listeners.clear();
      for (const conn of [this.#sub, this.#pub]) {
        try {
          if (conn.status === 'ready') await conn.quit();
          else conn.disconnect();
        } catch {
          conn.disconnect();
        }
      }
    })());
  }

  #receive(raw: string): void {
    let message: Message;
    try {
      message = JSON.parse(raw) as Message;
    } catch {
      return; // not ours: ignore rather than crash
    }
    if (message.from === this.#id || !Array.isArray(message.events)) return;
    const events = message.events.filter((e) => e !== null && typeof e === 'object' && Number.isSafeInteger(e.seq) && typeof e.json === 'string');
    if (events.length === 0) return;
    for (const l of this.#listeners) l(events);
  }
}
