/**
 * The SSE frames of `GET /v1/stream` (API.md, Streaming), written by the server and read by the
 * clients in this one place. Control frames: `snapshot` (the active tasks and the head they are
 * as new as), `reset` (the cursor is no longer in the log; a snapshot follows), `heartbeat`
 * (`{head, last}`). Every other named frame is an event of the log. Pure and browser-safe:
 * types only from the schemas, no zod at run time.
 */
import type { Snapshot, TaskEvent } from './schemas.ts';
import { EVENT_TYPES } from './constants.ts';

/** Control frames, then the log's event types: every `event:` name a stream may carry. */
export const CONTROL_FRAMES = ['heartbeat', 'snapshot', 'reset'] as const;
export type ControlFrame = (typeof CONTROL_FRAMES)[number];
export const STREAM_FRAME_TYPES = [...CONTROL_FRAMES, ...EVENT_TYPES] as const;

/** A heartbeat's data. */
export interface HeartbeatData {
  /** Every event matching this stream up to `head` has been written to it. */
  head: number;
  /** The seq of the last event written to this stream (a TaskPulse extension; absent from other servers). */
  last?: number;
}

/** Why a stream was reset. */
export type ResetReason = 'cursor_expired' | 'cursor_ahead';

/** A reset's data: a `snapshot` frame follows. */
export interface ResetData {
  head: number;
  reason: ResetReason;
}

// ------------------------------------------------------------------ writing (server)

/** The reconnection delay the server suggests (`retry:`); also the first bytes of every stream. */
export function retryFrame(ms: number): string {
  return `retry: ${ms}\n\n`;
}

export function heartbeatFrame(head: number, last: number): string {
  return `event: heartbeat\nid: ${head}\ndata: {"head":${head},"last":${last}}\n\n`;
}

export function resetFrame(head: number, reason: ResetReason): string {
  return `event: reset\nid: ${head}\ndata: ${JSON.stringify({ head, reason } satisfies ResetData)}\n\n`;
}

export function snapshotFrame(snapshot: Snapshot): string {
  return `event: snapshot\nid: ${snapshot.head}\ndata: ${JSON.stringify(snapshot)}\n\n`;
}

/** An event of the log, from its JSON as stored (serialized once, written to every stream). */
export function eventFrame(seq: number, type: string, json: string): string {
  return `id: ${seq}\nevent: ${type}\ndata: ${json}\n\n`;
}

// ------------------------------------------------------------------ reading (clients)
// A frame that cannot be read throws (a SyntaxError or TypeError): the reader drops the stream
// and resumes from its cursor rather than guess. Kept small: the browser bundle carries these.

const isSeq = (v: unknown): v is number => Number.isSafeInteger(v) && (v as number) >= 0;

function read(data: string, frame: string, seqField: string): Record<string, unknown> {
  const o = JSON.parse(data) as Record<string, unknown> | null;
  if (!isSeq(o?.[seqField])) throw new TypeError(`bad ${frame} frame`);
  return o!;
}

export function parseHeartbeat(data: string): HeartbeatData {
  const o = read(data, 'heartbeat', 'head');
  return { head: o.head as number, last: isSeq(o.last) ? o.last : undefined };
}

export function parseReset(data: string): ResetData {
  const o = read(data, 'reset', 'head');
  return { head: o.head as number, reason: o.reason === 'cursor_ahead' ? 'cursor_ahead' : 'cursor_expired' };
}

export function parseSnapshot(data: string): Snapshot {
  const o = read(data, 'snapshot', 'head');
  if (!Array.isArray(o.tasks)) throw new TypeError('bad snapshot frame');
  return o as unknown as Snapshot;
}

/** An event frame's data; its `seq` is checked, the rest trusted as the server's. */
export function parseEvent(data: string): TaskEvent {
  return read(data, 'event', 'seq') as unknown as TaskEvent;
}

/** True for an `event:` name of the log this reader understands (future types are skipped). */
export function isEventFrame(event: string): boolean {
  return event.startsWith('task.') || event.startsWith('notification.');
}
