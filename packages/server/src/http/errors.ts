/**
 * Maps anything thrown in a request to the API's error body. A 4xx says what was wrong; a 5xx
 * says only that it was our fault (never an internal message) and is logged.
 */
import { TaskPulseError, ERROR_STATUS, type ErrorCode } from '@taskpulse/protocol';
import type { FastifyError, FastifyInstance } from 'fastify';
import { ZodError } from 'zod';
import { storageFault } from '../store/faults.ts';
import { StorageError } from '../store/errors.ts';

const FASTIFY_CODES: Record<string, ErrorCode> = {
  FST_ERR_CTP_BODY_TOO_LARGE: 'payload_too_large',
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'unsupported_media_type',
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: 'invalid_request',
  FST_ERR_CTP_EMPTY_JSON_BODY: 'invalid_request',
  FST_ERR_CTP_INVALID_JSON_BODY: 'invalid_request',
};

const BY_STATUS: Record<number, ErrorCode> = {
  400: 'invalid_request', 401: 'unauthorized', 403: 'forbidden', 404: 'not_found', 405: 'method_not_allowed',
  409: 'conflict', 413: 'payload_too_large', 415: 'unsupported_media_type', 429: 'rate_limited', 503: 'unavailable',
};

/** The field paths an issue is about; an unknown-field issue names each unknown field, not its parent. */
function issuePaths(issue: ZodError['issues'][number], where: string): string[] {
  const base = [where, ...issue.path.map(String)];
  if (issue.code === 'unrecognized_keys') return issue.keys.map((k) => [...base, k].join('.'));
  return [base.join('.')];
}

function issueMessage(issue: ZodError['issues'][number]): string {
  return issue.code === 'unrecognized_keys' ? `unknown field${issue.keys.length > 1 ? 's' : ''} ${issue.keys.map((k) => `\`${k}\``).join(', ')}` : issue.message;
}

export function fromZod(error: ZodError, where: 'body' | 'query' | 'params' | 'headers'): TaskPulseError {
  const fields = [...new Set(error.issues.flatMap((i) => issuePaths(i, where)))];
  const first = error.issues[0];
  const path = first ? [where, ...first.path.map(String)].join('.') : where;
  return new TaskPulseError('invalid_request', `${path}: ${first ? issueMessage(first) : 'is not valid'}`, {
    fields,
    issues: error.issues.slice(0, 20).map((i) => ({ path: [where, ...i.path.map(String)].join('.'), message: issueMessage(i) })),
  });
}

/** The API error for a storage fault (503 `unavailable`), or null when `error` is not one. */
export function unavailableError(error: unknown): TaskPulseError | null {
  const reason = storageFault(error);
  if (reason === null) return null;
  return new TaskPulseError('unavailable', `storage is unavailable (${reason}); retry shortly`, undefined, { cause: error });
}

/** The API error for what the store refused (`invalid_cursor` → 400 naming the field). */
export function fromStorageError(error: StorageError): TaskPulseError {
  switch (error.kind) {
    case 'invalid_cursor': return new TaskPulseError('invalid_request', error.message, { fields: [error.field] });
  }
}

export function toTaskPulseError(error: unknown): TaskPulseError {
  if (error instanceof TaskPulseError) return error;
  if (error instanceof StorageError) return fromStorageError(error);
  if (error instanceof ZodError) return fromZod(error, 'body');
  const fe = error as Partial<FastifyError> & { type?: string };
  if (fe.code && FASTIFY_CODES[fe.code]) {
    const code = FASTIFY_CODES[fe.code]!;
    const message = code === 'payload_too_large' ? 'the request body is too large' : code === 'unsupported_media_type'
      ? 'send JSON with content-type: application/json' : `the request body is not valid JSON: ${fe.message ?? ''}`.trim();
    return new TaskPulseError(code, message);
  }
  if (error instanceof SyntaxError || fe.statusCode === 400) {
    // JSON parse errors and prototype-poisoning rejections (`__proto__` / `constructor.prototype` keys).
    return new TaskPulseError('invalid_request', `the request is not valid: ${fe.message ?? 'malformed'}`);
  }
  const status = fe.statusCode ?? 500;
  if (status >= 400 && status < 500) return new TaskPulseError(BY_STATUS[status] ?? 'invalid_request', fe.message ?? 'bad request');
  // A dependency that is down is not our bug: 503, which clients retry.
  const unavailable = unavailableError(error);
  if (unavailable) return unavailable;
  return new TaskPulseError('internal', 'an internal error occurred; it has been logged', undefined, { cause: error });
}

export function installErrorHandling(app: FastifyInstance): void {
  app.setErrorHandler((error, request, reply) => {
    const e = toTaskPulseError(error);
    if (e.code === 'unavailable') request.log.warn({ err: error, reqId: request.id }, 'request failed: a dependency is unavailable');
    else if (e.status >= 500) request.log.error({ err: error, reqId: request.id }, 'request failed');
    // Every 429 and 503 tells the client when to come back (the SDKs wait at least that long).
    if ((e.code === 'rate_limited' || e.code === 'unavailable') && !reply.hasHeader('retry-after')) {
      reply.header('retry-after', '1');
    }
    void reply.code(e.status).type('application/json').send(e.toBody());
  });
  app.setNotFoundHandler((request, reply) => {
    void reply.code(404).send(new TaskPulseError('not_found', `no route ${request.method} ${request.url.split('?')[0]}`).toBody());
  });
}

export { ERROR_STATUS };
