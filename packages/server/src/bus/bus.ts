/**
 * The bus wakes stream hubs when events are committed. It carries events as an optimisation,
 * but storage is the truth: a hub that sees a gap reads the missing events from the store, and
 * dedup by `seq` makes a repeated delivery harmless. In-process by default; Redis pub/sub when
 * several server instances share one PostgreSQL.
 */
import type { StoredEvent } from '../store/store.ts';

export interface Bus {
  publish(events: StoredEvent[]): void;
  subscribe(listener: (events: StoredEvent[]) => void): () => void;
  ping(): Promise<void>;
  close(): Promise<void>;
}
