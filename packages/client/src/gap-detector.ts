/**
 * Decides when a heartbeat reveals a gap in the stream. Pure: the caller passes the clock.
 *
 * A heartbeat promises every matching event up to `head` is already on this stream. With `last`
 * (the seq of the last event the server wrote to this stream, a TaskPulse extension) a catch-up
 * read is made exactly when that event never arrived. Without it, a head beyond the cursor is
 * normal for a filtered reader (other owners' events), so a catch-up read is made when no event
 * came since the last heartbeat — at once the first time, then at most once per safety interval
 * while such reads keep finding nothing.
 */
export class GapDetector {
  #safetyMs: number;
  #eventsSinceHeartbeat = false;
  #lastCheckAt = -Infinity;
  #lastCheckFound = true;

  /** @param safetyMs - the least time between two catch-up reads that keep finding nothing. */
  constructor(safetyMs: number) {
    this.#safetyMs = safetyMs;
  }

  /** A new stream: nothing has arrived on it yet. */
  streamOpened(): void {
    this.#eventsSinceHeartbeat = false;
  }

  /** An event arrived on the stream. */
  event(): void {
    this.#eventsSinceHeartbeat = true;
  }

  /** A heartbeat at `now`: true when a catch-up read should be made now (none is `reading`). */
  heartbeat(head: number, last: number | undefined, cursor: number | null, now: number, reading: boolean): boolean {
    const quiet = !this.#eventsSinceHeartbeat;
    this.#eventsSinceHeartbeat = false;
    const allowed = this.#lastCheckFound || now - this.#lastCheckAt >= this.#safetyMs;
    const suspect = cursor !== null && (last !== undefined ? last > cursor : head > cursor && quiet && allowed);
    if (!suspect || reading) return false;
    this.#lastCheckAt = now;
    return true;
  }

  /** The catch-up read is done; `found` whether it found events the stream had not delivered. */
  checked(found: boolean): void {
    this.#lastCheckFound = found;
  }
}
