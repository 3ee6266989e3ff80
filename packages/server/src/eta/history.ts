/**
 * Stage-duration history per task type, cached in memory for ETA and health. Loaded from the
 * store on first use and refreshed in the background; runs finished by this instance are added
 * at once.
 */
import type { StageRun, Store } from '../store/store.ts';
import { summarize, type TypeHistory } from './eta.ts';

const EMPTY: TypeHistory = new Map();

export class HistoryCache {
  readonly #store: Store;
  readonly #maxRuns: number;
  readonly #refreshMs: number;
  readonly #runs = new Map<string, StageRun[]>();
  readonly #stats = new Map<string, TypeHistory>();
  readonly #loadedAt = new Map<string, number>();
  readonly #loading = new Set<string>();

  constructor(store: Store, options: { maxRuns?: number; refreshMs?: number } = {}) {
    this.#store = store;
    this.#maxRuns = options.maxRuns ?? 200;
    this.#refreshMs = options.refreshMs ?? 60_000;
  }

  /** The statistics known now for a type (empty until loaded; triggers a load when stale). */
  get(type: string): TypeHistory {
    const at = this.#loadedAt.get(type);
    if ((at === undefined || Date.now() - at > this.#refreshMs) && !this.#loading.has(type)) void this.load(type);
    return this.#stats.get(type) ?? EMPTY;
  }

  async load(type: string): Promise<TypeHistory> {
    this.#loading.add(type);
    try {
      const runs = await this.#store.stageRuns(type, this.#maxRuns * 20);
      this.#runs.set(type, runs);
      this.#stats.set(type, summarize(runs));
      this.#loadedAt.set(type, Date.now());
    } catch {
      // keep what we had; the next read retries
    } finally {
      this.#loading.delete(type);
    }
    return this.#stats.get(type) ?? EMPTY;
  }

  add(run: StageRun): void {
    const runs = this.#runs.get(run.type) ?? [];
    runs.unshift(run);
    if (runs.length > this.#maxRuns * 20) runs.length = this.#maxRuns * 20;
    this.#runs.set(run.type, runs);
    this.#stats.set(run.type, summarize(runs));
  }
}
