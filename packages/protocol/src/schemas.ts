/**
 * zod schemas for everything that crosses the wire. The server validates with them and derives
 * `GET /openapi.json` from them, so the documented contract cannot drift from the code.
 */
import { z } from 'zod';
import { LIMITS } from './limits.ts';
import { EVENT_TYPES, SCOPES, TASK_STATUSES, TERMINAL_STATUSES } from './constants.ts';

// ---------------------------------------------------------------- building blocks

const CONTROL_CHARS = /[\u0000-\u001f\u007f]/;

/** An opaque identifier-like string: 1–128 chars, no control characters. */
export const Id = z
  .string()
  .min(1)
  .max(LIMITS.idChars)
  .refine((s) => !CONTROL_CHARS.test(s), 'must not contain control characters');

/** Free text: no NUL bytes (PostgreSQL cannot store them and they truncate C strings). */
export const Text = (max: number) =>
  z
    .string()
    .max(max)
    .refine((s) => !s.includes('\u0000'), 'must not contain NUL bytes');

/** Checks a parsed JSON value: size (when `maxBytes` is given), depth, finite numbers, no NUL in any string or key. */
export function checkJson(value: unknown, maxBytes = Infinity): string | null {
  // Measuring the size means serializing the value: only when there is a limit to check.
  if (Number.isFinite(maxBytes)) {
    let size: number;
    try {
      size = Buffer.byteLength(JSON.stringify(value) ?? '');
    } catch {
      return 'must be JSON';
    }
    if (size > maxBytes) return `must be at most ${maxBytes} bytes of JSON, got ${size}`;
  }
  const walk = (v: unknown, depth: number): string | null => {
    if (depth > LIMITS.jsonDepth) return `must be nested at most ${LIMITS.jsonDepth} levels deep`;
    if (typeof v === 'string') return v.includes('\u0000') ? 'must not contain NUL bytes' : null;
    if (typeof v === 'number') return Number.isFinite(v) ? null : 'numbers must be finite';
    if (Array.isArray(v)) {
      for (const item of v) {
        const e = walk(item, depth + 1);
        if (e) return e;
      }
      return null;
    }
    if (v && typeof v === 'object') {
      for (const [k, item] of Object.entries(v)) {
        if (k.includes('\u0000')) return 'keys must not contain NUL bytes';
        const e = walk(item, depth + 1);
        if (e) return e;
      }
    }
    return null;
  };
  return walk(value, 0);
}

/** Any JSON value, bounded in size and depth. */
export const JsonValue = (maxBytes: number) =>
  z.unknown().superRefine((value, ctx) => {
    const problem = checkJson(value, maxBytes);
    if (problem) ctx.addIssue({ code: 'custom', message: problem });
  });

/** A JSON object (not an array, not null), bounded in size. */
export const JsonObject = (maxBytes: number) =>
  z.record(z.string(), z.unknown()).superRefine((value, ctx) => {
    const problem = checkJson(value, maxBytes);
    if (problem) ctx.addIssue({ code: 'custom', message: problem });
  });

const Count = z.number().int().min(0).max(Number.MAX_SAFE_INTEGER);
const Timestamp = z.string().describe('ISO 8601, UTC');

// ---------------------------------------------------------------- task

export const TaskStatus = z.enum(TASK_STATUSES);
export type TaskStatus = z.infer<typeof TaskStatus>;
export const isTerminal = (s: TaskStatus): boolean => (TERMINAL_STATUSES as readonly TaskStatus[]).includes(s);

export const StageStatus = z.enum(['pending', 'running', 'completed', 'skipped', 'failed']);
export type StageStatus = z.infer<typeof StageStatus>;

export const Stage = z.object({
  key: Id,
  label: z.string(),
  weight: z.number(),
  status: StageStatus,
  startedAt: Timestamp.nullable(),
  endedAt: Timestamp.nullable(),
});
export type Stage = z.infer<typeof Stage>;

export const Children = z.object({
  total: Count,
  queued: Count,
  running: Count,
  completed: Count,
  failed: Count,
  canceled: Count,
});
export type Children = z.infer<typeof Children>;

export const TaskError = z.object({
  code: z.string(),
  message: z.string(),
  details: z.record(z.string(), z.unknown()).optional(),
});
export type TaskError = z.infer<typeof TaskError>;

export const Eta = z.object({
  remainingMs: z.number().nullable(),
  lowMs: z.number().nullable(),
  highMs: z.number().nullable(),
  at: Timestamp.nullable(),
  basis: z.enum(['history', 'rate', 'blend', 'none']),
});
export type Eta = z.infer<typeof Eta>;

export const Health = z.enum(['ok', 'slow', 'stuck']);
export type Health = z.infer<typeof Health>;

/** One earlier attempt of a task, kept when it ended (retried by a worker, the reaper or staff). */
export const AttemptInfo = z.object({
  attempt: Count,
  status: TaskStatus,
  error: TaskError.nullable(),
  startedAt: Timestamp.nullable(),
  endedAt: Timestamp.nullable(),
});
export type AttemptInfo = z.infer<typeof AttemptInfo>;

export const Task = z.object({
  id: z.string(),
  type: z.string(),
  owner: z.string(),
  tags: z.array(z.string()),
  parentId: z.string().nullable(),
  children: Children,
  status: TaskStatus,
  attempt: Count,
  maxAttempts: Count,
  progress: z.object({ done: z.number().nullable(), total: z.number().nullable(), percent: z.number().nullable() }),
  stage: z.object({ key: z.string(), label: z.string(), index: Count, count: Count }).nullable(),
  stages: z.array(Stage),
  message: z.string().nullable(),
  eta: Eta.nullable(),
  health: Health.nullable(),
  queue: z.object({ position: Count, estimatedWaitMs: z.number().nullable() }).nullable(),
  input: z.unknown(),
  result: z.unknown(),
  error: TaskError.nullable(),
  metadata: z.record(z.string(), z.unknown()),
  cancelRequested: z.boolean(),
  createdAt: Timestamp,
  startedAt: Timestamp.nullable(),
  updatedAt: Timestamp,
  endedAt: Timestamp.nullable(),
  heartbeatAt: Timestamp.nullable(),
  seq: Count,
  /** Earlier attempts, oldest first (the current one is the task itself); at most the last 20. */
  attempts: z.array(AttemptInfo).optional(),
});
export type Task = z.infer<typeof Task>;

export const Lease = z.object({ token: z.string(), expiresAt: Timestamp });
export type Lease = z.infer<typeof Lease>;

// ---------------------------------------------------------------- task requests
// Every request body is a strict object: an unknown field (`percent` for `done`, `priority`) is a
// 400 naming it rather than silently dropped, and the OpenAPI document says `additionalProperties: false`.

export const StageInput = z.strictObject({
  key: Id,
  label: Text(200).optional(),
  weight: z.number().positive().max(1e6).optional(),
});

export const Tags = z.array(Id.pipe(z.string().max(LIMITS.tagChars))).max(LIMITS.tags);

export const CreateTaskRequest = z.strictObject({
  type: Id,
  owner: Id,
  input: JsonValue(LIMITS.inputBytes).optional(),
  tags: Tags.optional(),
  stages: z
    .array(StageInput)
    .max(LIMITS.stages)
    .refine((s) => new Set(s.map((x) => x.key)).size === s.length, 'stage keys must be unique')
    .optional(),
  metadata: JsonObject(LIMITS.metadataBytes).optional(),
  parentId: Id.nullable().optional(),
  maxAttempts: z.number().int().min(1).max(100).optional(),
  start: z.boolean().optional(),
  leaseMs: z.number().int().min(1000).max(3_600_000).optional(),
});
export type CreateTaskRequest = z.infer<typeof CreateTaskRequest>;

/** What `GET /v1/tasks` can sort by (`sort`), each with `order` asc or desc; `created` desc (newest first) is the default. */
export const TASK_SORTS = ['created', 'type', 'owner', 'status'] as const;
export const TaskSort = z.enum(TASK_SORTS);
export type TaskSort = z.infer<typeof TaskSort>;

const STATUS_FILTER = /^(active|queued|running|completed|failed|canceled)(,(active|queued|running|completed|failed|canceled))*$/;

export const ListTasksQuery = z.object({
  status: z.string().regex(STATUS_FILTER, 'must be active or a comma list of statuses').optional(),
  type: Id.optional(),
  tag: Id.optional(),
  owner: Id.optional(),
  parentId: Id.optional(),
  /** Search: a task id, owner or type, or text anywhere in the task (message, input, result, error). */
  q: Text(200).min(1).optional(),
  /** Created at or after this instant (ISO 8601). */
  createdFrom: z.iso.datetime({ offset: true }).optional(),
  /** Created before this instant (ISO 8601). */
  createdTo: z.iso.datetime({ offset: true }).optional(),
  limit: z.coerce.number().int().min(1).max(500).optional(),
  cursor: z.string().max(300).optional(),
  /**
   * Sort key: `created` (default), `type`, `owner` or `status` (queued, running, completed,
   * failed, canceled); each reads an index. Ties fall back to creation order. A cursor continues
   * the sort it was handed out for.
   */
  sort: TaskSort.optional(),
  /** `desc` (default) or `asc`. */
  order: z.enum(['asc', 'desc']).optional(),
});
export type ListTasksQuery = z.infer<typeof ListTasksQuery>;

export const ListTasksResponse = z.object({ tasks: z.array(Task), nextCursor: z.string().nullable() });
export type ListTasksResponse = z.infer<typeof ListTasksResponse>;

export const CancelRequest = z.strictObject({ reason: Text(LIMITS.messageChars).optional() });
export type CancelRequest = z.infer<typeof CancelRequest>;

export const LogLevel = z.enum(['debug', 'info', 'warn', 'error']);
export type LogLevel = z.infer<typeof LogLevel>;

export const LogLine = z.object({ seq: Count, at: Timestamp, level: LogLevel, message: z.string() });
export type LogLine = z.infer<typeof LogLine>;

export const LogsQuery = z.object({
  after: z.coerce.number().int().min(0).optional(),
  limit: z.coerce.number().int().min(1).max(1000).optional(),
});
export type LogsQuery = z.infer<typeof LogsQuery>;
export const LogsResponse = z.object({ logs: z.array(LogLine) });
export type LogsResponse = z.infer<typeof LogsResponse>;

// ---------------------------------------------------------------- worker protocol

export const LeaseToken = z.string().min(1).max(200);

export const ClaimRequest = z.strictObject({
  types: z.array(Id).max(100).optional(),
  leaseMs: z.number().int().min(1000).max(3_600_000).optional(),
  waitMs: z.number().int().min(0).max(30_000).optional(),
});
export type ClaimRequest = z.infer<typeof ClaimRequest>;
export const ClaimResponse = z.object({ task: Task, lease: Lease });
export type ClaimResponse = z.infer<typeof ClaimResponse>;

const ProgressFields = {
  lease: LeaseToken,
  done: z.number().min(0).max(Number.MAX_SAFE_INTEGER).optional(),
  total: z.number().positive().max(Number.MAX_SAFE_INTEGER).optional(),
  message: Text(LIMITS.messageChars).nullable().optional(),
  stage: Id.optional(),
  metadata: JsonObject(LIMITS.metadataBytes).optional(),
  log: z
    .union([Text(LIMITS.messageChars), z.strictObject({ level: LogLevel.optional(), message: Text(LIMITS.messageChars) })])
    .optional(),
  leaseMs: z.number().int().min(1000).max(3_600_000).optional(),
};
export const ProgressRequest = z.strictObject(ProgressFields);
export type ProgressRequest = z.infer<typeof ProgressRequest>;
export const ProgressResponse = z.object({
  seq: Count,
  cancelRequested: z.boolean(),
  lease: z.object({ expiresAt: Timestamp }),
});
export type ProgressResponse = z.infer<typeof ProgressResponse>;

export const BatchProgressRequest = z.strictObject({
  updates: z.array(z.strictObject({ id: Id, ...ProgressFields })).min(1).max(LIMITS.batchUpdates),
});
export type BatchProgressRequest = z.infer<typeof BatchProgressRequest>;
/** One answer per update of a batch, in order: applied, or refused with the error it would have had alone. */
export const BatchProgressResult = z.union([
  ProgressResponse.extend({ id: z.string(), ok: z.literal(true) }),
  z.object({ id: z.string(), ok: z.literal(false), error: z.object({ code: z.string(), message: z.string() }) }),
]);
export type BatchProgressResult = z.infer<typeof BatchProgressResult>;
export const BatchProgressResponse = z.object({ results: z.array(BatchProgressResult) });
export type BatchProgressResponse = z.infer<typeof BatchProgressResponse>;

export const HeartbeatRequest = z.strictObject({ lease: LeaseToken, leaseMs: ProgressFields.leaseMs });
export const CompleteRequest = z.strictObject({ lease: LeaseToken, result: JsonValue(LIMITS.resultBytes).optional() });
export type HeartbeatRequest = z.infer<typeof HeartbeatRequest>;
export const HeartbeatResponse = ProgressResponse.omit({ seq: true });
export type HeartbeatResponse = z.infer<typeof HeartbeatResponse>;
export type CompleteRequest = z.infer<typeof CompleteRequest>;
export const FailRequest = z.strictObject({
  lease: LeaseToken,
  error: z.strictObject({
    code: Id.optional(),
    message: Text(LIMITS.messageChars),
    details: JsonObject(LIMITS.metadataBytes).optional(),
  }),
  retry: z.boolean().optional(),
});
export type FailRequest = z.infer<typeof FailRequest>;

// ---------------------------------------------------------------- credentials

export const Role = z.enum(['admin', 'worker']);
export type Role = z.infer<typeof Role>;
/**
 * What a worker key may do (least privilege: a queue worker's key need not mint viewer tokens).
 * `tasks:write` create, cancel and report on tasks (with a lease); `tasks:claim` claim queued
 * tasks and report on the claimed ones; `tokens:mint` mint viewer tokens; `read` read tasks,
 * events, streams, logs and stats. Admin keys may do everything. (`SCOPES` lives in constants.ts.)
 */
export const Scope = z.enum(SCOPES);
export type Scope = z.infer<typeof Scope>;
/** A worker key created without `scopes` has all of them: the powers worker keys always had. */
export const DEFAULT_WORKER_SCOPES: readonly Scope[] = SCOPES;
export const CreateKeyRequest = z.strictObject({
  role: Role,
  name: Text(200).min(1).optional(),
  scopes: z.array(Scope).min(1).max(SCOPES.length).refine((s) => new Set(s).size === s.length, 'scopes must be unique').optional(),
}).refine((b) => b.scopes === undefined || b.role === 'worker', { message: 'scopes apply to worker keys (admin keys may do everything)', path: ['scopes'] });
export type CreateKeyRequest = z.infer<typeof CreateKeyRequest>;
/** The only time the key itself is shown. */
export const CreateKeyResponse = z.object({ id: z.string(), key: z.string(), role: z.string(), name: z.string().nullable(), scopes: z.array(Scope) });
export type CreateKeyResponse = z.infer<typeof CreateKeyResponse>;
export const ApiKeyInfo = z.object({
  id: z.string(),
  name: z.string().nullable(),
  role: Role,
  /** What the key may do (admin keys: every scope). */
  scopes: z.array(Scope),
  prefix: z.string(),
  createdAt: Timestamp,
  lastUsedAt: Timestamp.nullable(),
  revokedAt: Timestamp.nullable(),
});
export type ApiKeyInfo = z.infer<typeof ApiKeyInfo>;
export const ListKeysResponse = z.object({ keys: z.array(ApiKeyInfo) });
export type ListKeysResponse = z.infer<typeof ListKeysResponse>;
export const RevokeKeyResponse = z.object({ id: z.string(), revoked: z.literal(true) });
export type RevokeKeyResponse = z.infer<typeof RevokeKeyResponse>;

/**
 * `POST /v1/tokens`: a viewer token for one owner (the default role), or, admin only, a staff
 * token for the dashboard (`{role: "staff"}`: reads everything, cancels and retries).
 */
export const CreateTokenRequest = z
  .strictObject({
    role: z.enum(['viewer', 'staff']).optional(),
    owner: Id.optional(),
    ttlSeconds: z.number().int().min(1).max(30 * 24 * 3600).optional(),
    taskIds: z.array(Id).max(1000).optional(),
  })
  .superRefine((b, ctx) => {
    if (b.role === 'staff') {
      for (const k of ['owner', 'taskIds'] as const) {
        if (b[k] !== undefined) ctx.addIssue({ code: 'custom', path: [k], message: 'a staff token is for every owner: leave it out' });
      }
    } else if (b.owner === undefined) ctx.addIssue({ code: 'custom', path: ['owner'], message: 'a viewer token needs the `owner` it may read' });
  });
export const TokenResponse = z.object({ token: z.string(), expiresAt: Timestamp });
export type CreateTokenRequest = z.infer<typeof CreateTokenRequest>;
export type TokenResponse = z.infer<typeof TokenResponse>;

// ---------------------------------------------------------------- notifications

export const NotificationKind = z.enum(['completed', 'failed', 'canceled']);
export const Notification = z.object({
  id: z.string(),
  seq: Count,
  owner: z.string(),
  taskId: z.string(),
  kind: NotificationKind,
  title: z.string(),
  body: z.string(),
  createdAt: Timestamp,
  readAt: Timestamp.nullable(),
});
export type Notification = z.infer<typeof Notification>;

export const NotificationsQuery = z.object({
  unread: z.enum(['true', 'false']).optional(),
  limit: z.coerce.number().int().min(1).max(500).optional(),
  owner: Id.optional(),
});
export type NotificationsQuery = z.infer<typeof NotificationsQuery>;
export const NotificationsResponse = z.object({ notifications: z.array(Notification) });
export type NotificationsResponse = z.infer<typeof NotificationsResponse>;
export const MarkReadRequest = z
  .strictObject({ ids: z.array(Id).max(1000).optional(), upToSeq: Count.optional() })
  .refine((b) => b.ids !== undefined || b.upToSeq !== undefined, 'give ids or upToSeq');
export type MarkReadRequest = z.infer<typeof MarkReadRequest>;
export const MarkReadResponse = z.object({ ids: z.array(z.string()), seq: z.number().nullable() });
export type MarkReadResponse = z.infer<typeof MarkReadResponse>;

// ---------------------------------------------------------------- events

export const EventType = z.enum(EVENT_TYPES);
export type EventType = z.infer<typeof EventType>;

export const TaskEvent = z.object({
  seq: Count,
  type: EventType,
  at: Timestamp,
  taskId: z.string().nullable(),
  task: Task.optional(),
  /** A delta (`delta=true` streams only): `task` holds `id` and the fields changed since the task's `seq` was `base`. */
  base: Count.optional(),
  log: LogLine.optional(),
  notification: Notification.optional(),
  /** notification.read: which notifications were read. */
  read: z.object({ ids: z.array(z.string()), readAt: Timestamp }).optional(),
});
export type TaskEvent = z.infer<typeof TaskEvent>;

const EVENTS_FILTER = new RegExp(`^(${EVENT_TYPES.join('|').replaceAll('.', '\\.')})(,(${EVENT_TYPES.join('|').replaceAll('.', '\\.')}))*$`);

export const EventFilterQuery = z.object({
  taskId: Id.optional(),
  tag: Id.optional(),
  type: Id.optional(),
  parentId: Id.optional(),
  events: z.string().regex(EVENTS_FILTER, `must be a comma list of ${EVENT_TYPES.join(', ')}`).optional(),
});
export type EventFilterQuery = z.infer<typeof EventFilterQuery>;

const Cursor = z.coerce.number().int().min(0).max(Number.MAX_SAFE_INTEGER);

export const EventsQuery = EventFilterQuery.extend({
  after: Cursor.optional(),
  limit: z.coerce.number().int().min(1).max(1000).optional(),
  waitMs: z.coerce.number().int().min(0).max(30_000).optional(),
  access_token: z.string().optional(),
});
export const EventsResponse = z.object({
  events: z.array(TaskEvent),
  head: Count,
  reset: z.boolean().optional(),
  tasks: z.array(Task).optional(),
});
export type EventsQuery = z.infer<typeof EventsQuery>;
/** The answer of `GET /v1/events`; with `reset`, `tasks` is the snapshot as of `head`. */
export type EventsResponse = z.infer<typeof EventsResponse>;

export const StreamQuery = EventFilterQuery.extend({
  after: Cursor.optional(),
  /** This stream's heartbeat interval (an extension: clients that must notice a silent stream sooner ask for less). */
  heartbeatMs: z.coerce.number().int().min(100).max(60_000).optional(),
  coalesce: z.enum(['true', 'false', '1', '0']).optional(),
  /**
   * An extension: `task.updated` events may carry only what changed, with `base` (the task `seq`
   * they apply to); the first event of each task on the stream and every other type stay whole.
   */
  delta: z.enum(['true', 'false', '1', '0']).optional(),
  access_token: z.string().optional(),
});
export type StreamQuery = z.infer<typeof StreamQuery>;

export const Snapshot = z.object({ head: Count, tasks: z.array(Task) });
export type Snapshot = z.infer<typeof Snapshot>;

export const ErrorResponse = z.object({
  error: z.object({ code: z.string(), message: z.string(), details: z.record(z.string(), z.unknown()).optional() }),
});
export type ErrorResponse = z.infer<typeof ErrorResponse>;

// ---------------------------------------------------------------- operations

export const HealthResponse = z.object({ status: z.literal('ok') });
export type HealthResponse = z.infer<typeof HealthResponse>;
export const ReadyResponse = z.object({
  status: z.enum(['ready', 'not_ready']),
  /** `ok`, or `down: <reason>` (the instance is not ready). */
  storage: z.string(),
  /** `ok`, or `degraded: <reason>` (the instance stays ready). */
  bus: z.string(),
});
export type ReadyResponse = z.infer<typeof ReadyResponse>;

/** `POST /v1/client-metrics`: a client's delivery health over one reporting window. */
export const ClientMetricsRequest = z.strictObject({
  liveMs: z.number().min(0).max(86_400_000).default(0),
  pollingMs: z.number().min(0).max(86_400_000).default(0),
  offlineMs: z.number().min(0).max(86_400_000).default(0),
  worstStalenessMs: z.number().min(0).max(86_400_000).default(0),
  reconnects: z.number().int().min(0).max(1_000_000).default(0),
});
export type ClientMetricsRequest = z.infer<typeof ClientMetricsRequest>;
export const ClientMetricsResponse = z.object({ accepted: z.literal(true) });
export type ClientMetricsResponse = z.infer<typeof ClientMetricsResponse>;


// ---------------------------------------------------------------- webhooks

export const CreateWebhookRequest = z.strictObject({
  url: z
    .string()
    .max(2000)
    .refine((u) => {
      try {
        const p = new URL(u).protocol;
        return p === 'http:' || p === 'https:';
      } catch {
        return false;
      }
    }, 'must be an http(s) URL'),
  events: z.array(EventType).min(1).max(EVENT_TYPES.length),
  secret: Text(200).min(16, 'must be at least 16 characters'),
});
export type CreateWebhookRequest = z.infer<typeof CreateWebhookRequest>;

export const WebhookInfo = z.object({ id: z.string(), url: z.string(), events: z.array(EventType), createdAt: Timestamp });
export type WebhookInfo = z.infer<typeof WebhookInfo>;
export const ListWebhooksResponse = z.object({ webhooks: z.array(WebhookInfo) });
export type ListWebhooksResponse = z.infer<typeof ListWebhooksResponse>;
export const DeleteWebhookResponse = z.object({ id: z.string(), deleted: z.literal(true) });
export type DeleteWebhookResponse = z.infer<typeof DeleteWebhookResponse>;
export const DeliveryInfo = z.object({
  id: z.number(),
  seq: Count,
  event: EventType,
  status: z.enum(['pending', 'delivered', 'failed']),
  attempts: Count,
  lastStatus: z.number().nullable(),
  lastError: z.string().nullable(),
  createdAt: Timestamp,
  deliveredAt: Timestamp.nullable(),
  nextAttemptAt: Timestamp.nullable(),
});
export type DeliveryInfo = z.infer<typeof DeliveryInfo>;
export const DeliveriesResponse = z.object({ deliveries: z.array(DeliveryInfo) });
export type DeliveriesResponse = z.infer<typeof DeliveriesResponse>;
