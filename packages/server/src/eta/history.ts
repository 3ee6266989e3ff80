/**
 * Stage-duration history per task type, cached in memory for ETA and health. Loaded from the
 * store on first use and refreshed in the background; runs finished by this instance are added
 * at once. Beside it, per type, the band's calibration: where the truth fell against the ETA
 * model's band in the type's recent scores ({@link HistoryCache.band}).
 */
import type { EtaCheck, StageRun, Store } from '../store/store.ts';
import { MODEL_BAND, summarize, type BandScale, type TypeHistory } from './eta.ts';
import { bandScale } from './calibration.ts';
import { ReportGaps } from './gaps.ts';

/** Scores per type the band is calibrated on (newest; ~100 tasks at 5 each)... */
const BAND_CHECKS = 500;
/** ...within this window (`GET /v1/stats`'s default). */
const BAND_WINDOW_MS = 24 * 3600 * 1000;
/** A type's band scale is recomputed at most this often (when a task of it completed since). */
const BAND_RECOMPUTE_MS = 2000;

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
  /** Per type: the `reach` of its recent ETA scores (newest first), the band scale they give and when. */
  readonly #reaches = new Map<string, number[]>();
  readonly #bands = new Map<string, { scale: BandScale; atMs: number; dirty: boolean }>();
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
      const [runs, reaches] = await Promise.all([
        this.#store.history.stageRuns(type, this.#maxRuns * 20),
        this.#store.history.etaReaches(type, this.#now() - BAND_WINDOW_MS, BAND_CHECKS),
      ]);
      this.#runs.set(type, runs);
      this.#reaches.set(type, reaches);
      this.#bands.set(type, { scale: bandScale(reaches), atMs: this.#now(), dirty: false });
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

  /** The ETA scores of a completed task, once committed: they recalibrate its type's band. */
  addChecks(checks: readonly EtaCheck[]): void {
    for (const c of checks) {
      if (c.reach === null || c.reach === undefined) continue;
      const reaches = this.#reaches.get(c.type) ?? [];
      reaches.unshift(c.reach);
      if (reaches.length > BAND_CHECKS) reaches.length = BAND_CHECKS;
      this.#reaches.set(c.type, reaches);
      const band = this.#bands.get(c.type);
      if (band) band.dirty = true;
      else this.#bands.set(c.type, { scale: MODEL_BAND, atMs: -Infinity, dirty: true });
    }
  }

  /**
   * How far the type's ETA band must reach to hold the truth as often as it promises, by its
   * recent scores (eta/calibration.ts `bandScale`); the model's band until enough say otherwise.
   * Recomputed after a task of the type completed, at most every {@link BAND_RECOMPUTE_MS}:
   * per report this is a map lookup.
   */
  band(type: string): BandScale {
    const b = this.#bands.get(type);
    if (!b) return MODEL_BAND;
    if (b.dirty && this.#now() - b.atMs >= BAND_RECOMPUTE_MS) {
      b.scale = bandScale(this.#reaches.get(type) ?? []);
      b.atMs = this.#now();
      b.dirty = false;
    }
    return b.scale;
  }
}
