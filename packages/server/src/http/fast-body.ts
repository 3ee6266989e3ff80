/**
 * Hand-written checks for the bodies of the hottest routes (progress reports). Each answers only
 * "certainly valid as it is": then the route takes the parsed JSON as the body and skips the
 * generic JSON walk and the zod schema. Anything else — an unknown field, a wrong type, a value
 * out of range, or just a shape the check does not cover — goes through zod as before, so every
 * 400 (its message and the fields it names) still comes from the one schema in @taskpulse/protocol.
 * A check may therefore be stricter than the schema, never looser (test/fast-body.test.ts holds
 * both to the same cases).
 */
import { LIMITS } from '@taskpulse/protocol';

const CONTROL_CHARS = /[\u0000-\u001f\u007f]/;
const LOG_LEVELS = new Set(['debug', 'info', 'warn', 'error']);

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const text = (v: unknown, max: number): boolean => typeof v === 'string' && v.length <= max && !v.includes('\u0000');
const id = (v: unknown): boolean => typeof v === 'string' && v.length >= 1 && v.length <= LIMITS.idChars && !CONTROL_CHARS.test(v);
const leaseMs = (v: unknown): boolean => Number.isInteger(v) && (v as number) >= 1000 && (v as number) <= 3_600_000;

/** What the route's generic check refuses anywhere in a body: too deep, non-finite numbers, NUL. */
function cleanJson(v: unknown, depth: number): boolean {
  if (depth > LIMITS.jsonDepth) return false;
  if (typeof v === 'string') return !v.includes('\u0000');
  if (typeof v === 'number') return Number.isFinite(v);
  if (Array.isArray(v)) {
    for (const item of v) if (!cleanJson(item, depth + 1)) return false;
    return true;
  }
  if (v !== null && typeof v === 'object') {
    for (const k in v) if (k.includes('\u0000') || !cleanJson((v as Record<string, unknown>)[k], depth + 1)) return false;
  }
  return true;
}

/** The fields of a report (`ProgressRequest`, a batch item without `id`); `depth` is the report's own. */
function reportField(k: string, v: unknown, depth: number): boolean {
  switch (k) {
    case 'lease':
      return typeof v === 'string' && v.length >= 1 && v.length <= 200 && !v.includes('\u0000');
    case 'done':
      return typeof v === 'number' && Number.isFinite(v) && v >= 0 && v <= Number.MAX_SAFE_INTEGER;
    case 'total':
      return typeof v === 'number' && Number.isFinite(v) && v > 0 && v <= Number.MAX_SAFE_INTEGER;
    case 'message':
      return v === null || text(v, LIMITS.messageChars);
    case 'stage':
      return id(v);
    case 'leaseMs':
      return leaseMs(v);
    case 'log':
      if (typeof v === 'string') return text(v, LIMITS.messageChars);
      if (!isObject(v)) return false;
      for (const lk in v) {
        if (lk === 'message') {
          if (!text(v.message, LIMITS.messageChars)) return false;
        } else if (lk !== 'level' || !LOG_LEVELS.has(v.level as string)) return false;
      }
      return 'message' in v;
    case 'metadata':
      return isObject(v) && cleanJson(v, depth + 1) && Buffer.byteLength(JSON.stringify(v)) <= LIMITS.metadataBytes;
    default:
      return false;
  }
}

function report(v: unknown, depth: number, withId: boolean): boolean {
  if (!isObject(v) || typeof v.lease !== 'string') return false;
  for (const k in v) {
    if (withId && k === 'id') {
      if (!id(v.id)) return false;
    } else if (!reportField(k, v[k], depth)) return false;
  }
  return !withId || 'id' in v;
}

/** `POST /v1/tasks/:id/progress`: certainly a valid `ProgressRequest`. */
export function fastProgress(body: unknown): boolean {
  return report(body, 0, false);
}

/** `POST /v1/progress`: certainly a valid `BatchProgressRequest`. */
export function fastBatchProgress(body: unknown): boolean {
  if (!isObject(body)) return false;
  for (const k in body) if (k !== 'updates') return false;
  const updates = body.updates;
  if (!Array.isArray(updates) || updates.length < 1 || updates.length > LIMITS.batchUpdates) return false;
  for (const u of updates) if (!report(u, 2, true)) return false;
  return true;
}
