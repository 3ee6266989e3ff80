/** How times, durations and task states read on screen. Pure. */
import type { EtaAccuracy, Task } from '@taskpulse/protocol';

/** `850 ms`, `12 s`, `3 min 20 s`, `2 h 5 min`. */
export function duration(ms: number | null | undefined): string {
  if (ms === null || ms === undefined || !Number.isFinite(ms)) return '—';
  if (ms < 1000) return `${Math.max(0, Math.round(ms))} ms`;
  const s = ms / 1000;
  if (s < 10) return `${s.toFixed(1)} s`;
  if (s < 60) return `${Math.round(s)} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min${s % 60 >= 1 ? ` ${Math.floor(s % 60)} s` : ''}`;
  const h = Math.floor(m / 60);
  return `${h} h${m % 60 ? ` ${m % 60} min` : ''}`;
}

/** `just now`, `12 s ago`, `5 min ago`, `3 h ago`, `2 d ago`. */
export function ago(iso: string | null | undefined, nowMs: number): string {
  if (!iso) return '—';
  const ms = nowMs - Date.parse(iso);
  if (ms < 5000) return 'just now';
  if (ms < 60_000) return `${Math.round(ms / 1000)} s ago`;
  if (ms < 3_600_000) return `${Math.floor(ms / 60_000)} min ago`;
  if (ms < 86_400_000) return `${Math.floor(ms / 3_600_000)} h ago`;
  return `${Math.floor(ms / 86_400_000)} d ago`;
}

/** How long the task ran (or has run, while running). */
export function runTime(t: Task, nowMs: number): number | null {
  if (!t.startedAt) return null;
  return (t.endedAt ? Date.parse(t.endedAt) : nowMs) - Date.parse(t.startedAt);
}

/** `~15 s left` from the ETA's absolute time (so it counts down between events), with its band. */
/** A queued task's expected wait, as a person would say it ("starts soon" rather than "~30 ms"). */
export function startsIn(waitMs: number): string {
  return waitMs < 1000 ? 'starts soon' : `starts in ~${duration(waitMs)}`;
}

/** What an ETA was worked out from, in words (the server's `basis`). */
const BASIS: Record<string, string> = { history: 'from past runs', rate: 'from its pace', blend: 'from past runs and its pace' };

/** `text` to show, the likely range (`band`) under it, and what it was worked out from (`why`, for a hover). */
export function eta(t: Task, nowMs: number): { text: string; band: string | null; why: string | null } | null {
  if (t.status !== 'running' || !t.eta || t.eta.at === null || t.eta.remainingMs === null) return null;
  const left = Math.max(0, Date.parse(t.eta.at) - nowMs);
  const why = BASIS[t.eta.basis] ?? null;
  if (left < 1000) return { text: 'almost done', band: null, why };
  // A band under a second says nothing a person can use ("1 ms – 1 ms"): only the estimate then.
  const band = t.eta.lowMs !== null && t.eta.highMs !== null && t.eta.highMs >= 1000 ? `${duration(t.eta.lowMs)} – ${duration(t.eta.highMs)}` : null;
  return { text: `~${duration(left)} left`, band, why };
}

export function percentText(p: number | null | undefined): string {
  return p === null || p === undefined ? '—' : `${p >= 10 || p === 0 ? Math.round(p) : p.toFixed(1)}%`;
}

export function stageText(t: Task): string {
  if (t.status === 'queued') return t.queue ? `#${t.queue.position} in queue${t.attempt > 0 ? ' (retry)' : ''}` : 'queued';
  if (t.status === 'completed') return t.stages.length ? `all ${t.stages.filter((s) => s.status === 'completed').length}/${t.stages.length} stages` : 'done';
  if (!t.stage) return '—';
  const where = `${t.stage.label} (${t.stage.index + 1}/${t.stage.count})`;
  return t.status === 'running' ? where : `stopped in ${where}`;
}

/**
 * The message line under the stage: the worker's latest message while the task runs; once it has
 * ended, that message is stale ("Parsing page 5/6" under a completed task), so a finished task says
 * how long it ran instead, and an ended one without a run time says nothing.
 */
export function rowMessage(t: Task): string {
  if (t.status === 'queued' || t.status === 'running') return t.message ?? '';
  const ran = t.status === 'completed' ? runTime(t, Date.now()) : null;
  return ran === null ? '' : `finished in ${duration(ran)}`;
}

/** Short ids read better in tables; the full one is a click away. */
export function shortId(id: string): string {
  return id.length > 14 ? `${id.slice(0, 8)}…${id.slice(-4)}` : id;
}

/** Fewer scored tasks than this make no verdict on a type's ETA. */
export const ETA_MIN_SCORED = 10;

/**
 * A plain reading of a type's observed ETA accuracy (`eta` of `/v1/stats`) for the stats page.
 * "Good" is about what the ETA reaches on the bench workloads (docs/benchmarks.md: ≤ 15 % median
 * error at 50 % of a run, the truth inside the band 80–90 % of the time), with some slack.
 */
export function etaVerdict(e: EtaAccuracy): { label: string; tone: 'good' | 'fair' | 'poor' | 'none'; why: string } {
  if (e.tasks < ETA_MIN_SCORED || e.medianErrorAt50 === null) return { label: 'too few', tone: 'none', why: `fewer than ${ETA_MIN_SCORED} tasks scored` };
  const cover = e.bandCoverage ?? 0;
  if (e.medianErrorAt50 <= 0.2 && cover >= 0.75) return { label: 'good', tone: 'good', why: 'within 20 % half way through; the band holds the truth at least 3 times in 4' };
  if (e.medianErrorAt50 <= 0.4 && cover >= 0.6) return { label: 'rough', tone: 'fair', why: 'within 40 % half way through' };
  return { label: 'unreliable', tone: 'poor', why: 'off by more than 40 % half way through, or the band often misses' };
}
