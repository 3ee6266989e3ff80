/**
 * Compact storage of `task.*` events (pure, no I/O).
 *
 * Every `task.*` event carries the whole task after the change (the contract), but most events
 * are progress reports that change a handful of fields. So the log keeps, per task, a *version*
 * (the whole task JSON at some seq, in its own table) and stores each event as the top-level
 * fields that differ from that version. Reading an event back is one merge: version ⊕ diff, no
 * replay chain. A new version is written when the diff grows past {@link MAX_DIFF_CHARS} (a
 * stage change, new metadata, a result), on milestones, and when the writer holds none (after a
 * restart), so a progress report costs a few hundred bytes whatever the size of the task's
 * `input`, `result` or `metadata`.
 *
 * The event is serialized once, field by field: the same pieces build the wire JSON (sent live,
 * byte for byte what `JSON.stringify` makes) and the diff (compared as strings).
 */
import { toStored } from './records.ts';
import { rowToEvent, type Row } from './sql.ts';
import type { NewEvent, StoredEvent } from './store.ts';

/** A diff longer than this starts a new version instead. */
export const MAX_DIFF_CHARS = 320;

/** The task JSON a diff is relative to: its fields serialized one by one. */
export interface TaskVersion {
  seq: number;
  keys: string[];
  pieces: string[];
  /** The time of the event that wrote it (epoch ms). */
  atMs: number;
  /** That time as JSON (`"2026-…Z"`). */
  atJson: string;
}

export interface SplitEvent {
  /** The event's wire JSON, as `JSON.stringify({seq, type, at, taskId, task})` would make it. */
  json: string;
  /** The task's JSON alone. */
  taskJson: string;
  fields: TaskVersion;
  /** The event as a delta from the task's previous event (`task.updated` only; see {@link deltaOf}). */
  delta?: TaskDelta;
}

/**
 * A `task.updated` event as a delta (the stream's `delta=true`): `task` holds `id` and the
 * top-level fields whose JSON differs from the task's previous event, whose task `seq` is `base`.
 * A reader that holds the task at `base` gets the whole task back by replacing those fields.
 */
export interface TaskDelta {
  base: number;
  /** The wire JSON: `{seq, type, at, taskId, base, task: {id, …changed}}`. */
  json: string;
}

/**
 * Task fields whose value is an object the state machine replaces and never changes in place
 * (tasks/model.ts copies `stages`, `children`, `metadata`… before changing them): their JSON is
 * kept by identity, so a progress event does not serialize a 10 KB `input` again.
 */
const STABLE_FIELDS = new Set(['input', 'result', 'metadata', 'error', 'stages', 'tags', 'children', 'attempts']);
const PIECES = new WeakMap<object, string>();

/** The JSON of a task field's value (kept by identity for the fields that are never changed in place). */
export function pieceOf(k: string, v: unknown): string | undefined {
  if (v === null || typeof v !== 'object') return JSON.stringify(v) as string | undefined;
  if (!STABLE_FIELDS.has(k)) return flatJson(v) ?? JSON.stringify(v);
  if (Array.isArray(v) && v.length === 0) return '[]'; // `attempts ?? []` is a new array each time: not worth an entry
  let piece = PIECES.get(v);
  if (piece === undefined) {
    piece = JSON.stringify(v);
    PIECES.set(v, piece);
  }
  return piece;
}

/**
 * The JSON of a plain object whose values are numbers, strings, booleans or null (a task's
 * `progress`, `eta`, `stage`: new on every event), as JSON.stringify makes it; undefined for
 * anything else (nested objects, arrays, a prototype of its own). ~3× cheaper than
 * JSON.stringify for such small objects: numbers become text as `String` does (which is what
 * JSON.stringify does with a finite number) and names come from {@link keyJson}.
 */
function flatJson(v: object): string | undefined {
  if (Object.getPrototypeOf(v) !== Object.prototype) return undefined; // arrays, toJSON, classes
  let json = '{';
  for (const k in v) {
    const x = (v as Record<string, unknown>)[k];
    let piece: string;
    if (typeof x === 'number') piece = Number.isFinite(x) ? `${x}` : 'null';
    else if (typeof x === 'string') piece = JSON.stringify(x);
    else if (x === null) piece = 'null';
    else if (typeof x === 'boolean') piece = x ? 'true' : 'false';
    else if (x === undefined) continue;
    else return undefined;
    json += json.length > 1 ? `,${keyJson(k)}${piece}` : keyJson(k) + piece;
  }
  return `${json}}`;
}

/** `"name":` of each field name seen (task fields are a few dozen names, serialized once). */
const KEY_JSON = new Map<string, string>();
const MAX_KEYS = 1000;

/** A field name as JSON (`"name"`). */
function nameJson(k: string): string {
  const j = keyJson(k);
  return j.slice(0, -1);
}

/** A field name as JSON, followed by `:`. */
function keyJson(k: string): string {
  let j = KEY_JSON.get(k);
  if (j === undefined) {
    j = `${JSON.stringify(k)}:`;
    if (KEY_JSON.size < MAX_KEYS) KEY_JSON.set(k, j);
  }
  return j;
}

/**
 * Per task, the primitive field values of its last event and their JSON, by position: most of a
 * report's fields (`id`, `type`, `status`, `createdAt`…) are what they were, and their JSON is
 * reused instead of made again (and, being the same string, compares at once in
 * {@link diffFields}). Objects are left to {@link pieceOf} and not kept here. A pure memo: a value equal to the
 * one remembered has the same JSON whatever happened since, so a rolled-back unit needs nothing.
 */
interface LastPieces {
  /** How many fields the last event had (the arrays may hold stale entries past it). */
  n: number;
  keys: string[];
  values: unknown[];
  pieces: (string | undefined)[];
  idJson: string;
}
const LAST = new Map<string, LastPieces>();
/** Remembered in place of an object (never equal to a field's value: objects are not pinned here). */
const AN_OBJECT = Symbol('an object');
/** Tasks remembered at most (the oldest is forgotten first); a finished task is forgotten at once. */
const MAX_LAST = 10_000;
/** The event types that end a task (its memo here, a delta stream's entry in sse-connection.ts, are dropped). */
export const FINAL_EVENTS: ReadonlySet<string> = new Set(['task.completed', 'task.failed', 'task.canceled']);

let lastAt = '';
let lastAtMs = NaN;
let lastAtJson = '""';

/** The events of one instant share their time: parsed and serialized once per instant. */
function rememberAt(at: string): void {
  if (at === lastAt) return;
  lastAt = at;
  lastAtMs = Date.parse(at);
  lastAtJson = JSON.stringify(at);
}

/** `Date.parse(at)`, parsed once per instant (an event's time is stored as ms beside its ISO text). */
export function atMsOf(at: string): number {
  rememberAt(at);
  return lastAtMs;
}

/** Serializes a task event field by field (`undefined` fields are left out, as JSON.stringify does). */
export function splitTaskEvent(seq: number, type: string, at: string, taskId: string, task: Record<string, unknown>): SplitEvent {
  const keys: string[] = [];
  const pieces: string[] = [];
  let last = LAST.get(taskId);
  if (last === undefined) {
    if (LAST.size >= MAX_LAST) LAST.delete(LAST.keys().next().value!);
    last = { n: 0, keys: [], values: [], pieces: [], idJson: JSON.stringify(taskId) };
    LAST.set(taskId, last);
  }
  let taskJson = '{';
  let n = 0;
  // The fields that changed since the task's previous event, as `,"k":piece…` (undefined: no
  // delta, because this is not a `task.updated`, there is no previous event, or a field came or went).
  let changed: string | undefined = type === 'task.updated' && last.n > 0 ? '' : undefined;
  let base: unknown;
  for (const k in task) {
    const v = task[k];
    let piece: string | undefined;
    if (last.values[n] === v && last.keys[n] === k) piece = last.pieces[n];
    else {
      piece = pieceOf(k, v);
      if (changed !== undefined) {
        const before = last.pieces[n];
        if (n >= last.n || last.keys[n] !== k || (piece === undefined && before !== undefined)) changed = undefined;
        else if (piece !== before) {
          changed += `,${keyJson(k)}${piece}`;
          if (k === 'seq') base = last.values[n];
        }
      }
      last.keys[n] = k;
      last.values[n] = typeof v === 'object' && v !== null ? AN_OBJECT : v;
      last.pieces[n] = piece;
    }
    n++;
    if (piece === undefined) continue;
    if (keys.length > 0) taskJson += ',';
    taskJson += keyJson(k) + piece;
    keys.push(k);
    pieces.push(piece);
  }
  taskJson += '}';
  if (changed !== undefined && n !== last.n) changed = undefined;
  last.n = n;
  if (FINAL_EVENTS.has(type)) LAST.delete(taskId);
  rememberAt(at);
  const json = `{"seq":${seq},"type":${JSON.stringify(type)},"at":${lastAtJson},"taskId":${last.idJson},"task":${taskJson}}`;
  const split: SplitEvent = { json, taskJson, fields: { seq, keys, pieces, atMs: lastAtMs, atJson: lastAtJson } };
  if (changed !== undefined && typeof base === 'number') {
    split.delta = { base, json: `{"seq":${seq},"type":"task.updated","at":${lastAtJson},"taskId":${last.idJson},"base":${base},"task":{"id":${last.idJson}${changed}}}` };
  }
  return split;
}

const DELTA = Symbol('task delta');

/** The live event's delta from its task's previous event, when it has one (events read back from the log have none). */
export function deltaOf(e: StoredEvent): TaskDelta | undefined {
  return (e as StoredEvent & { [DELTA]?: TaskDelta })[DELTA];
}

/** Past this many characters of `input`, `result` or `metadata`, a task row reuses their JSON. */
const BIG_FIELD_CHARS = 1024;

/**
 * A stored task record's JSON, exactly `JSON.stringify(record)`. When its `input`, `result` or
 * `metadata` is large, their JSON made for an event (kept by identity) is reused, so rewriting
 * the row does not serialize a 10 KB `input` again; otherwise the native stringify is faster.
 * `inputAs`: the JSON written in the input's place instead (a row that keeps it apart, task-docs.ts).
 */
export function recordJson(record: { input?: unknown; result?: unknown; metadata?: unknown }, inputAs?: string): string {
  if (inputAs === undefined && !bigPiece(record.input) && !bigPiece(record.result) && !bigPiece(record.metadata)) return JSON.stringify(record);
  let json = '{';
  for (const k in record) {
    const piece = k === 'input' && inputAs !== undefined ? inputAs : pieceOf(k, (record as Record<string, unknown>)[k]);
    if (piece === undefined) continue;
    if (json.length > 1) json += ',';
    json += keyJson(k) + piece;
  }
  return json + '}';
}

function bigPiece(v: unknown): boolean {
  if (v === null || typeof v !== 'object') return false;
  const piece = PIECES.get(v);
  return piece !== undefined && piece.length > BIG_FIELD_CHARS;
}

/**
 * The fields of `next` that differ from `base`, as a JSON object, or null when `next` should be
 * stored as a new version (a field went away, or the diff is too long to be worth it). The task's
 * `seq` is left out when it is the event's own (it always is for a task event): the merge puts
 * it back. Fields of the base whose new value is the event's own time (`updatedAt`,
 * `heartbeatAt` on a report) are only named, under the key `""` (no task field has that name):
 * the row keeps that time already, and two timestamps are half of a report's diff.
 */
export function diffFields(base: TaskVersion, next: TaskVersion): string | null {
  const ownSeq = String(next.seq);
  if (next.keys.length < base.keys.length) return null; // a field left: a merge could not express it
  let out = '{';
  let j = 0;
  let found = 0;
  let atKeys: string | null = null; // their names' JSON, comma-separated
  for (let i = 0; i < next.keys.length; i++) {
    const k = next.keys[i]!;
    // Keys come in the same order for every task event; fall back to a search when they do not.
    const at = base.keys[j] === k ? j : base.keys.indexOf(k);
    if (at >= 0) {
      j = at + 1;
      found++;
      // The merge sets `seq` to the event's own: it stays in the diff whenever it is anything else.
      if (k === 'seq' ? next.pieces[i] === ownSeq : base.pieces[at] === next.pieces[i]) continue;
      if (next.pieces[i] === next.atJson) {
        atKeys = atKeys === null ? nameJson(k) : `${atKeys},${nameJson(k)}`;
        continue;
      }
    }
    if (out.length > 1) out += ',';
    out += keyJson(k) + next.pieces[i]!;
    if (out.length > MAX_DIFF_CHARS) return null;
  }
  if (found !== base.keys.length) return null; // keys are unique: every base key is still there
  if (atKeys !== null) {
    if (out.length > 1) out += ',';
    out += `"":[${atKeys}]`;
    if (out.length > MAX_DIFF_CHARS) return null;
  }
  return `${out}}`;
}

/** How an appended event is stored: the row's JSON, its version's seq, and the version to insert. */
export interface CompactEvent {
  stored: StoredEvent;
  /** The `json` column: a task event's diff (`{}` when it is its own version), else the wire JSON. */
  row: string;
  /** The seq of the task version the diff is relative to; null for an event stored whole. */
  base: number | null;
  /** A new version to store at `(taskId, stored.seq)`, or null. */
  version: string | null;
  /** The event's time in ms (`Date.parse(at)`, parsed once per instant). */
  atMs: number;
}

/**
 * Appends-side of the compact log, shared by the engines: serializes the event once, and stores a
 * task event as its diff from the task's version in `versions` (the writer's memory), or as a new
 * version when there is none, it is older than `maxVersionAgeMs` (event time), the event is a
 * milestone or the diff would be too long.
 */
export function compactEvent(
  seq: number,
  e: NewEvent,
  versions: { get(taskId: string): TaskVersion | undefined; set(taskId: string, v: TaskVersion): void },
  maxVersionAgeMs = Infinity,
): CompactEvent {
  const body = e.body(seq);
  const task = body.task;
  if (e.taskId === null || task === null || typeof task !== 'object' || !onlyTask(body)) {
    const stored = toStored(seq, e, JSON.stringify({ seq, type: e.type, at: e.at, taskId: e.taskId, ...body }));
    return { stored, row: stored.json, base: null, version: null, atMs: atMsOf(e.at) };
  }
  const split = splitTaskEvent(seq, e.type, e.at, e.taskId, task as Record<string, unknown>);
  const stored = toStored(seq, e, split.json);
  // Not enumerable: deep equality, JSON and structured clones (the bus) never see it.
  if (split.delta !== undefined) Object.defineProperty(stored, DELTA, { value: split.delta });
  const version = versions.get(e.taskId);
  const usable = version !== undefined && !e.milestone && (maxVersionAgeMs === Infinity || split.fields.atMs - version.atMs < maxVersionAgeMs);
  const diff = usable ? diffFields(version, split.fields) : null;
  if (diff !== null) return { stored, row: diff, base: version!.seq, version: null, atMs: split.fields.atMs };
  versions.set(e.taskId, split.fields);
  return { stored, row: '{}', base: seq, version: split.taskJson, atMs: split.fields.atMs };
}

/** Whether `body` has no field but `task` (counted without building a key array per event). */
function onlyTask(body: Record<string, unknown>): boolean {
  let n = 0;
  for (const _ in body) n++;
  return n === 1;
}

/**
 * Stored rows → events, in seq order: a compact task event (a `base`) is rebuilt from its version,
 * which `versionOf` finds (each version is asked for once per call).
 */
export function rowsToEvents(rows: readonly Row[], versionOf: (taskId: string, base: number, row: Row) => string | undefined): StoredEvent[] {
  // Each version is asked for and parsed once per call: a page of one task's events merges 500
  // diffs into the same version (a shallow copy each: a merge replaces top-level fields only).
  const versions = new Map<string, Record<string, unknown>>();
  return rows.map((r) => {
    const e = rowToEvent(r);
    if (r.base === null || r.base === undefined) return e;
    const base = r.base as number;
    const key = `${e.taskId}\u0000${base}`;
    let version = versions.get(key);
    if (version === undefined) {
      const json = versionOf(e.taskId!, base, r);
      // Pruning keeps every version a retained event refers to, so this is a broken log.
      if (json === undefined) throw new Error(`event ${e.seq}: its task version ${base} is missing`);
      version = JSON.parse(json) as Record<string, unknown>;
      versions.set(key, version);
    }
    e.json = mergeTaskEvent(e.seq, e.type, e.at, e.taskId!, version, r.json as string);
    return e;
  });
}

/** Rebuilds an event's wire JSON from its version (JSON, or parsed: it is not changed) and its stored diff. */
export function mergeTaskEvent(seq: number, type: string, at: string, taskId: string, version: string | Record<string, unknown>, diffJson: string): string {
  const task = typeof version === 'string' ? (JSON.parse(version) as Record<string, unknown>) : { ...version };
  if ('seq' in task) task.seq = seq; // left out of the diff when it is the event's own
  const diff = JSON.parse(diffJson) as Record<string, unknown>;
  Object.assign(task, diff);
  if ('' in diff) {
    // Fields whose value is the event's time (diffFields); they are all in the version already, so their place in the task is kept.
    for (const k of diff[''] as string[]) task[k] = at;
    delete task[''];
  }
  return JSON.stringify({ seq, type, at, taskId, task });
}
