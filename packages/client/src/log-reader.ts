/**
 * The one reader of the server's event log. Events reach it from the stream, from polls and
 * from the leader tab; snapshots from the bootstrap, the stream, a poll's `reset` and the leader
 * tab. It is the only place that moves the cursor and drops what was already applied: an event
 * counts only when its `seq` is beyond the cursor, so every repeated delivery (a poll
 * overlapping the stream, a resumed stream, a forwarded message) is harmless.
 *
 * While a catch-up read fills a suspected gap, stream events are held and applied after it, so
 * a later event can never move the cursor past the missing ones.
 */
import type { Snapshot, TaskEvent } from '@taskpulse/protocol';
import { Cursor } from './cursor.ts';

/** Where a delivery came from: read by this tab (`stream`, `poll`, `own` snapshot) or forwarded by the leader (`tab`). */
export type LogSource = 'stream' | 'poll' | 'own' | 'tab';

/** What the reader hands on, already deduplicated and in order. */
export interface LogSink {
  events(events: TaskEvent[], source: LogSource): void;
  /** A snapshot of the active tasks as of its head; `reset` when the log no longer held the cursor. */
  snapshot(snapshot: Snapshot, reset: boolean, source: LogSource): void;
  /** The cursor moved without an event (a heartbeat's or a poll's head). */
  cursorAdvanced(cursor: number): void;
}

export class LogReader {
  #cursor = new Cursor();
  #sink: LogSink;
  #now: () => number;
  #held: TaskEvent[] | null = null;
  #lastEventAt: number | null = null;

  constructor(sink: LogSink, now: () => number) {
    this.#sink = sink;
    this.#now = now;
  }

  /** The `seq` of the last event applied (or the head adopted), `null` before the first snapshot. */
  get cursor(): number | null {
    return this.#cursor.value;
  }

  /** When the last new event was applied (client clock), or `null`. */
  get lastEventAt(): number | null {
    return this.#lastEventAt;
  }

  /** Applies the events beyond the cursor, in order; returns how many were new. */
  events(events: TaskEvent[], source: LogSource): number {
    if (source === 'stream' && this.#held !== null) {
      this.#held.push(...events);
      return 0;
    }
    const fresh = events.filter((e) => this.#cursor.accept(e.seq));
    if (fresh.length > 0) {
      this.#lastEventAt = this.#now();
      this.#sink.events(fresh, source);
    }
    return fresh.length;
  }

  /** Moves the cursor to a head the server promised (never back); `announce`: tell the other tabs. */
  advance(head: number, announce = true): void {
    const before = this.#cursor.value;
    this.#cursor.advanceTo(head);
    if (announce && before !== null && before !== this.#cursor.value) this.#sink.cursorAdvanced(head);
  }

  /**
   * Adopts a snapshot. One read by this tab, or a reset, replaces the position (even backwards:
   * the log may have been replaced); a leader's ordinary snapshot only moves it forward.
   */
  snapshot(snapshot: Snapshot, reset: boolean, source: LogSource): void {
    if (reset || source !== 'tab') this.#cursor.resetTo(snapshot.head);
    else this.#cursor.advanceTo(snapshot.head);
    this.#sink.snapshot(snapshot, reset, source);
  }

  /** From now on, stream events wait (a catch-up read is filling a gap). */
  hold(): void {
    this.#held ??= [];
  }

  /** Applies the stream events held back, beyond whatever the catch-up read applied. */
  release(): void {
    const held = this.#held;
    this.#held = null;
    if (held !== null && held.length > 0) this.events(held, 'stream');
  }
}
