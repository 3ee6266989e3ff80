/** `GET /openapi.json`, generated from the same zod schemas the routes validate with. */
import { z, type ZodType } from 'zod';
import { ErrorResponse } from '@taskpulse/protocol';
import type { Router } from './http/route.ts';

function schema(s: ZodType, io: 'input' | 'output'): unknown {
  return z.toJSONSchema(s, { io, unrepresentable: 'any', target: 'openapi-3.0' });
}

/** Every `/v1/` route is rate limited per client IP and per credential (stream opens apart). */
const RATE_LIMITED = {
  description:
    'rate_limited: too many requests from this IP or with this credential in the current window (or too many stream opens). ' +
    'Retry after `retry-after` seconds; the SDKs do. `details`: `{limit, windowMs, scope: "ip" | "credential"}`.',
  headers: {
    'retry-after': { description: 'seconds until the window ends', schema: { type: 'integer', minimum: 1 } },
    'x-ratelimit-limit': { description: 'the limit that was hit', schema: { type: 'integer' } },
    'x-ratelimit-remaining': { schema: { type: 'integer' } },
    'x-ratelimit-reset': { description: 'seconds until the window ends', schema: { type: 'integer' } },
  },
  content: { 'application/json': { schema: schema(ErrorResponse, 'output') } },
};

export function openApiDocument(router: Router, version: string): Record<string, unknown> {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const spec of router.specs) {
    const path = spec.url.replace(/:(\w+)/g, '{$1}');
    const params = [...spec.url.matchAll(/:(\w+)/g)].map((m) => ({ name: m[1], in: 'path', required: true, schema: { type: 'string', maxLength: 128 } }));
    if (spec.query) {
      const q = schema(spec.query, 'input') as { properties?: Record<string, unknown>; required?: string[] };
      for (const [name, s] of Object.entries(q.properties ?? {})) {
        params.push({ name, in: 'query', required: (q.required ?? []).includes(name), schema: s as { type: string; maxLength: number } });
      }
    }
    const ok = String(spec.status ?? 200);
    const content = spec.produces
      ? { [spec.produces]: { schema: { type: 'string' } } }
      : spec.response ? { 'application/json': { schema: schema(spec.response, 'output') } } : undefined;
    paths[path] ??= {};
    paths[path][spec.method.toLowerCase()] = {
      summary: spec.summary,
      tags: [spec.tag],
      ...(spec.roles === 'public' ? { security: [] } : {}),
      parameters: params,
      ...(spec.body ? { requestBody: { required: true, content: { 'application/json': { schema: schema(spec.body, 'input') } } } } : {}),
      responses: {
        [ok]: { description: 'success', ...(content ? { content } : {}) },
        ...(spec.url.startsWith('/v1/') ? { '429': RATE_LIMITED } : {}),
        default: { description: 'error', content: { 'application/json': { schema: schema(ErrorResponse, 'output') } } },
      },
    };
  }
  return {
    openapi: '3.0.3',
    info: { title: 'TaskPulse API', version, description: 'Live progress of long-running background tasks.' },
    components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
    security: [{ bearer: [] }],
    paths,
  };
}
