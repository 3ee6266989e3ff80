/** Display helpers both example pages share. Pure. */
import type { ConnectionState, Task } from '@taskpulse/client';

/** `42 %`, `42.5 %`, or `—` when unknown. */
export function formatPercent(percent: number | null | undefined): string {
  if (percent === null || percent === undefined) return '—';
  return `${Math.round(percent * 10) / 10} %`;
}

/** `Parsing pages (2/3)`, or `''` without a stage. */
export function formatStage(task: Task): string {
  if (task.stage === null) return '';
  return `${task.stage.label} (${task.stage.index + 1}/${task.stage.count})`;
}

/**
 * The time left, counted down on the client between events without trusting its clock: the
 * server's `remainingMs` minus the time elapsed (on this page's monotonic clock) since the task
 * arrived.
 */
export function remainingMs(task: Task, receivedAt: number, now: number): number | null {
  const ms = task.eta?.remainingMs;
  if (ms === null || ms === undefined || task.status !== 'running') return null;
  return Math.max(0, ms - Math.max(0, now - receivedAt));
}

/** `~15 s left`, `~2 min left`, `almost done`, or `''` when there is no estimate. */
export function formatEta(ms: number | null): string {
  if (ms === null) return '';
  if (ms < 1000) return 'almost done';
  const s = Math.round(ms / 1000);
  if (s < 90) return `~${s} s left`;
  const m = Math.round(s / 60);
  if (m < 90) return `~${m} min left`;
  return `~${Math.round(m / 60)} h left`;
}

/** What a user should read for each connection state. */
export const CONNECTION_LABELS: Record<ConnectionState, string> = {
  connecting: 'Connecting…',
  live: 'Live',
  polling: 'Reconnecting (updates every few seconds)',
  offline: 'Offline',
  closed: 'Closed',
};

/** `Running`, `Completed`… */
export function formatStatus(task: Task): string {
  if (task.status === 'running' && task.cancelRequested) return 'Canceling…';
  return task.status.charAt(0).toUpperCase() + task.status.slice(1);
}

/** `tsk_01JD…9XQ2 · 14:03:12`: which task, and when it was created (local time). */
export function formatIdTime(task: Task): string {
  const id = task.id.length > 14 ? `${task.id.slice(0, 8)}…${task.id.slice(-4)}` : task.id;
  return `${id} · ${new Date(task.createdAt).toLocaleTimeString()}`;
}
