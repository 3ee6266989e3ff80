/**
 * Stage-duration history per task type, cached in memory for ETA and health. Loaded from the
 * store on first use and refreshed in the background; runs finished by this instance are added
 * at once.
 */
import type { StageRun, Store } from '../store/store.ts';
import { summarize, type TypeHistory } from './eta.ts';
import { ReportGaps } from './gaps.ts';

const EMPTY: TypeHistory = new Map();

export class HistoryCache {
  readonly #store: Store;
  readonly #maxRuns: number;
  readonly #refreshMs: number;
  readonly #runs = new Map<string, StageRun[]>();
  readonly #stats = new Map<string, TypeHistory>();
  readonly #loadedAt = new Map<string, number>();
  readonly #loading = new Set<string>();
  readonly #dirty = new Set<string>();
  readonly #now: () => number;
  /** The usual gap between progress moves per type and stage (for `stuck`). */
  readonly gaps = new ReportGaps();

  constructor(store: Store, options: { maxRuns?: number; refreshMs?: number; now?: () => number } = {}) {
    this.#store = store;
    this.#maxRuns = options.maxRuns ?? 200;
    this.#refreshMs = options.refreshMs ?? 60_000;
    this.#now = options.now ?? Date.now;
  }

  /** The statistics known now for a type (empty until loaded; triggers a load when stale). */
  get(type: string): TypeHistory {
    const at = this.#loadedAt.get(type);
    if ((at === undefined || this.#now() - at > this.#refreshMs) && !this.#loading.has(type)) void this.load(type);
    if (this.#dirty.delete(type)) this.#stats.set(type, summarize(this.#runs.get(type) ?? []));
    return this.#stats.get(type) ?? EMPTY;
  }

  async load(type: string): Promise<TypeHistory> {
    this.#loading.add(type);
    try {
      const runs = await this.#store.history.stageRuns(type, this.#maxRuns * 20);
      this.#runs.set(type, runs);
      this.#stats.set(type, summarize(runs));
      this.#dirty.delete(type);
      this.#loadedAt.set(type, this.#now());
    } catch {
      // keep what we had; the next read retries
    } finally {
      this.#loading.delete(type);
    }
    return this.#stats.get(type) ?? EMPTY;
  }

  /** A stage run that has been committed (never one a rolled-back unit produced). */
  add(run: StageRun): void {
    const runs = this.#runs.get(run.type) ?? [];
    runs.unshift(run);
    if (runs.length > this.#maxRuns * 20) runs.length = this.#maxRuns * 20;
    this.#runs.set(run.type, runs);
    // Summarized on the next read: a finished task adds several runs at once.
    this.#dirty.add(run.type);
  }
}
