/**
 * The one read path of the event log: a poll (`GET /v1/events`), a snapshot (`GET /v1/snapshot`)
 * and a stream's catch-up (the hub) all read through here, so a cursor means the same everywhere
 * and switching between stream and polls never loses or repeats an event (API.md, "Events").
 *
 * - `cursor(after)`: is the cursor one the log can continue from? Ahead of the head or below the
 *   retained floor (pruned events) means reset: the reader starts again from a snapshot.
 * - `page(after, filter, limit)`: the matching events after a cursor, with a `head` that has the
 *   heartbeat's meaning (every matching event ≤ head is in this page or before it).
 * - `snapshot(filter)`: the matching active tasks as of a head.
 * - `eventsJson(page)`: a poll's answer built from the stored wire JSON, never parsed again.
 */
import type { Snapshot } from '@taskpulse/protocol';
import type { EventFilter, EventStore, StoredEvent } from '../store/store.ts';

/** The event log as the reader needs it (the store's `events` sub-store). */
export type EventLog = Pick<EventStore, 'read' | 'head' | 'floor'>;

export interface EventReaderDeps {
  log: EventLog;
  /** The active tasks a reader may see, consistent with `head` (tasks are presented with ETA and queue). */
  snapshot: (filter: EventFilter) => Promise<Snapshot>;
}

/** Whether the log can continue from a cursor; `head` is the log's head when it was checked. */
export type CursorStatus =
  | { status: 'valid'; head: number }
  /** `cursor_ahead`: past the head (another log, a restored backup); `cursor_expired`: its events were pruned. */
  | { status: 'reset'; reason: 'cursor_ahead' | 'cursor_expired'; head: number };

export interface EventPage {
  /** Matching events after the cursor, oldest first. */
  events: StoredEvent[];
  /**
   * The heartbeat's meaning: every matching event with `seq ≤ head` is in this page or before it.
   * A page cut by `limit` reports its own last event; a short page, the log's head.
   */
  head: number;
  /** Cut by `limit`: more may follow, read on from `head`. */
  full: boolean;
}

export class EventReader {
  readonly #deps: EventReaderDeps;

  constructor(deps: EventReaderDeps) {
    this.#deps = deps;
  }

  /** The log's head: the newest committed seq. */
  head(): Promise<number> {
    return this.#deps.log.head();
  }

  async cursor(after: number): Promise<CursorStatus> {
    const floor = await this.#deps.log.floor();
    const head = await this.#deps.log.head();
    if (after > head) return { status: 'reset', reason: 'cursor_ahead', head };
    if (after < floor) return { status: 'reset', reason: 'cursor_expired', head };
    return { status: 'valid', head };
  }

  async page(after: number, filter: EventFilter, limit: number): Promise<EventPage> {
    const { events, head } = await this.#deps.log.read(after, filter, limit);
    const full = events.length === limit;
    // A full page holds every matching event up to its last, and nothing is known past it.
    return { events, head: full ? events[limit - 1]!.seq : head, full };
  }

  snapshot(filter: EventFilter): Promise<Snapshot> {
    return this.#deps.snapshot(filter);
  }
}

/**
 * `{"events": [...], "head": N}` from the events' stored wire JSON: byte for byte what
 * `JSON.stringify` of the parsed events makes (the store serializes each event once, with
 * `JSON.stringify`'s rules), without parsing 500 events only to serialize them again.
 */
export function eventsJson(page: Pick<EventPage, 'events' | 'head'>): string {
  let body = '{"events":[';
  const { events } = page;
  for (let i = 0; i < events.length; i++) body += i === 0 ? events[i]!.json : `,${events[i]!.json}`;
  return `${body}],"head":${page.head}}`;
}
