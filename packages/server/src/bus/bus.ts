/**
 * The bus wakes stream hubs when events are committed. It carries events as an optimisation,
 * but storage is the truth: a hub that sees a gap reads the missing events from the store, and
 * dedup by `seq` makes a repeated delivery harmless. In-process by default; Redis pub/sub when
 * several server instances share one PostgreSQL.
 */
import type { StoredEvent } from '../store/store.ts';

export interface Bus {
  /**
   * Whether other instances' events arrive over this bus. Pub/sub between instances can lose a
   * message, noticed only when the next one shows the gap: the hub then also compares the store's
   * head with its own now and then (`streamHeadCheckMs`). A bus that does not say is taken to be
   * one. @defaultValue true
   */
  readonly crossInstance?: boolean;
  publish(events: StoredEvent[]): void;
  subscribe(listener: (events: StoredEvent[]) => void): () => void;
  ping(): Promise<void>;
  close(): Promise<void>;
}
