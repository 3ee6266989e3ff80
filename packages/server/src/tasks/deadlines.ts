/**
 * When each running task's `health` would change if nothing else happened (it stops moving, or
 * its stage outlasts what healthy runs take). A timer wheel: ids sit in slots of `slotMs`, so
 * moving a deadline on every report is O(1) and {@link Deadlines.take} costs O(due + slots
 * passed) whatever the number of running tasks — cheap enough to check every 250 ms.
 */
export class Deadlines {
  readonly #slotMs: number;
  readonly #at = new Map<string, number>();
  readonly #slots = new Map<number, Set<string>>();
  /** The first slot not yet taken whole (null while empty). */
  #cursor: number | null = null;

  constructor(slotMs = 250) {
    if (!(slotMs > 0)) throw new RangeError(`slotMs must be positive, got ${slotMs}`);
    this.#slotMs = slotMs;
  }

  get size(): number {
    return this.#at.size;
  }

  /** `id` becomes due at `atMs` (replacing any earlier deadline of it). */
  set(id: string, atMs: number): void {
    let slot = Math.floor(atMs / this.#slotMs);
    if (this.#cursor === null) this.#cursor = slot;
    else if (slot < this.#cursor) slot = this.#cursor; // already past: due at the next take
    const at = this.#at.get(id);
    if (at !== undefined) {
      // Most reports move a deadline within its slot: only its instant changes.
      if (Math.max(Math.floor(at / this.#slotMs), this.#cursor) === slot) {
        this.#at.set(id, atMs);
        return;
      }
      this.delete(id);
    }
    this.#at.set(id, atMs);
    let s = this.#slots.get(slot);
    if (!s) this.#slots.set(slot, (s = new Set()));
    s.add(id);
  }

  delete(id: string): void {
    const at = this.#at.get(id);
    if (at === undefined) return;
    this.#at.delete(id);
    const slot = Math.max(Math.floor(at / this.#slotMs), this.#cursor ?? -Infinity);
    const s = this.#slots.get(slot);
    if (s) {
      s.delete(id);
      if (s.size === 0) this.#slots.delete(slot);
    }
  }

  /** The ids whose deadline is at or before `nowMs`, forgotten here. */
  take(nowMs: number): string[] {
    const due: string[] = [];
    if (this.#cursor === null) return due;
    const nowSlot = Math.floor(nowMs / this.#slotMs);
    // Walk the slots passed — or, after a long idle spell, only the ones that exist.
    const slots = nowSlot - this.#cursor > this.#slots.size ? [...this.#slots.keys()].filter((k) => k < nowSlot).sort((a, b) => a - b) : null;
    const takeWhole = (k: number) => {
      const s = this.#slots.get(k);
      if (!s) return;
      for (const id of s) {
        due.push(id);
        this.#at.delete(id);
      }
      this.#slots.delete(k);
    };
    if (slots) for (const k of slots) takeWhole(k);
    else for (let k = this.#cursor; k < nowSlot; k++) takeWhole(k);
    if (nowSlot > this.#cursor) this.#cursor = nowSlot;
    // The current slot: only what is due already.
    const s = this.#slots.get(this.#cursor);
    if (s) {
      for (const id of s) {
        if (this.#at.get(id)! <= nowMs) {
          due.push(id);
          this.#at.delete(id);
          s.delete(id);
        }
      }
      if (s.size === 0) this.#slots.delete(this.#cursor);
    }
    return due;
  }
}
