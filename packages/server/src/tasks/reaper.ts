/**
 * Lease reaping: a running task whose lease expired (its worker died or lost touch) goes back to
 * the queue as a new attempt, or fails as stalled when it has no attempts left (model.expire).
 */
import type { Changes } from './changes.ts';
import * as model from './model.ts';

export class LeaseReaper {
  readonly #changes: Changes;
  readonly #now: () => number;

  constructor(changes: Changes, now: () => number = Date.now) {
    this.#changes = changes;
    this.#now = now;
  }

  /** Reaps up to `limit` expired leases in one unit of work; returns how many. */
  async reap(limit = 100): Promise<number> {
    return this.#changes.write(async (tx, afterCommit) => {
      const nowMs = this.#now();
      const expired = await tx.expiredLeases(nowMs, limit);
      for (const r of expired) await this.#changes.apply(tx, model.expire(r, nowMs), nowMs, afterCommit);
      return expired.length;
    });
  }
}
