import type { StoredEvent } from '../../store/store.ts';
import type { Bus } from '../bus.ts';

/** The single-process bus: delivers synchronously, in publish order. */
export class MemoryBus implements Bus {
  readonly #listeners = new Set<(events: StoredEvent[]) => void>();
  /** One instance: its own commits are all there is, delivered in-process, none lost. */
  readonly crossInstance = false;

  publish(events: StoredEvent[]): void {
    for (const l of this.#listeners) l(events);
  }

  subscribe(listener: (events: StoredEvent[]) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  async ping(): Promise<void> {}

  async close(): Promise<void> {
    this.#listeners.clear();
  }
}
