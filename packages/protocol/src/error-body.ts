/**
 * The error envelope of the HTTP API (API.md, Conventions): `{"error": {"code", "message",
 * "details"?}}`. Built by the server, read here by every caller. Pure and browser-safe (no zod).
 */

/** An error answer's body. */
export interface ErrorBody {
  error: { code: string; message: string; details?: Record<string, unknown> };
}

/** True when `value` is the error envelope. */
export function isErrorBody(value: unknown): value is ErrorBody {
  const e = (value as ErrorBody | null)?.error;
  return typeof e === 'object' && e !== null && typeof e.code === 'string' && typeof e.message === 'string';
}

/** What a caller needs from an error answer; each field only when the body had it. */
export interface ParsedError {
  code?: string;
  message?: string;
  details?: Record<string, unknown>;
}

/**
 * Reads an error answer's body (its text, or its parsed JSON): the fields of the envelope that
 * are well-typed, `{}` when the body is not the envelope (a proxy's HTML page, an empty body).
 * A 401 for an expired token says so with `unauthorized` + `details.reason: "token_expired"`.
 */
export function parseErrorBody(body: unknown): ParsedError {
  let e: { code?: unknown; message?: unknown; details?: unknown } | undefined;
  try {
    e = (typeof body === 'string' ? JSON.parse(body) : body)?.error;
  } catch {
    // not JSON: nothing to read
  }
  const { code, message, details } = typeof e === 'object' && e !== null ? e : {};
  return {
    ...(typeof code === 'string' ? { code } : {}),
    ...(typeof message === 'string' ? { message } : {}),
    ...(typeof details === 'object' && details !== null && !Array.isArray(details) ? { details: details as Record<string, unknown> } : {}),
  };
}
