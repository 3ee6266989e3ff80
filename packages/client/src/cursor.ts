/**
 * The read position in the server's event log, shared by the stream and the poller.
 * Events are accepted only when their `seq` is beyond the cursor, which makes every repeated
 * delivery (a poll overlapping the stream, a resumed stream, a message forwarded by another
 * tab) harmless: one log, one cursor, no gap and no duplicate.
 */
export class Cursor {
  #value: number | null;

  /** @param initial - a known position, or `null` before the first snapshot. */
  constructor(initial: number | null = null) {
    this.#value = initial;
  }

  /** The `seq` of the last event applied (or the head adopted), `null` before the first snapshot. */
  get value(): number | null {
    return this.#value;
  }

  /** Accepts an event: true when `seq` is new, and the cursor moves to it. */
  accept(seq: number): boolean {
    if (this.#value !== null && seq <= this.#value) return false;
    this.#value = seq;
    return true;
  }

  /** Moves forward to `head` (a heartbeat's or a poll's promise); never moves back. */
  advanceTo(head: number): void {
    if (this.#value === null || head > this.#value) this.#value = head;
  }

  /** Sets the position unconditionally: only after a snapshot, which replaces all state. */
  resetTo(head: number): void {
    this.#value = head;
  }
}
