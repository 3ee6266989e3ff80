/**
 * Declarative routes: each declares its schemas and who may call it; `route()` validates,
 * authenticates and records it for the OpenAPI document, so docs and checks come from one place.
 */
import { TaskPulseError, checkJson } from '@taskpulse/protocol';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { z, type ZodType } from 'zod';
import type { Principal, Role } from '../auth/principal.ts';
import type { Scope } from '@taskpulse/protocol';
import { fromZod } from './errors.ts';
import type { Authenticate } from '../auth/authenticate.ts';

export interface RouteSpec<B extends ZodType | undefined, Q extends ZodType | undefined> {
  method: 'GET' | 'POST' | 'DELETE';
  url: string;
  summary: string;
  tag: string;
  /** Who may call; 'public' needs no credential. */
  roles: readonly Role[] | 'public';
  body?: B;
  /**
   * A fast check of the body (http/fast-body.ts): true when it is certainly valid as parsed, and
   * the generic JSON check and `body` schema are skipped; false sends it through them as usual.
   */
  fastBody?: (body: unknown) => boolean;
  query?: Q;
  /** Documented 2xx response. */
  response?: ZodType;
  status?: number;
  /**
   * A worker key needs one of these scopes (admin keys have all; viewers are limited by `roles`
   * and ownership). Absent: any worker key may call.
   */
  scopes?: readonly Scope[];
  /** Accept `?access_token=` (the browser's EventSource cannot send headers). */
  queryToken?: boolean;
  /** The response is not JSON (SSE, Prometheus text). */
  produces?: string;
}

export interface RouteContext<B, Q> {
  principal: Principal;
  /** The credential presented (null on public routes): a stream re-checks it while open. */
  credential: string | null;
  body: B;
  query: Q;
  params: Record<string, string>;
  request: FastifyRequest;
  reply: FastifyReply;
}

type Infer<T> = T extends ZodType ? z.output<T> : undefined;

export type { Authenticate };

export interface Router {
  route<B extends ZodType | undefined = undefined, Q extends ZodType | undefined = undefined>(
    spec: RouteSpec<B, Q>,
    handler: (ctx: RouteContext<Infer<B>, Infer<Q>>) => Promise<unknown>,
  ): void;
  readonly specs: readonly RouteSpec<ZodType | undefined, ZodType | undefined>[];
}

const ID_PARAM = /^[^\u0000-\u001f\u007f]{1,128}$/;

/** Runs once the caller is known (rate limits per credential); throws to refuse. */
export type AfterAuth = (principal: Principal, spec: RouteSpec<ZodType | undefined, ZodType | undefined>, request: FastifyRequest, reply: FastifyReply) => Promise<void>;

export function createRouter(app: FastifyInstance, authenticate: Authenticate, afterAuth?: AfterAuth): Router {
  const specs: RouteSpec<ZodType | undefined, ZodType | undefined>[] = [];
  return {
    specs,
    route(spec, handler) {
      specs.push(spec as RouteSpec<ZodType | undefined, ZodType | undefined>);
      app.route({
        method: spec.method,
        url: spec.url,
        handler: async (request, reply) => {
          let principal: Principal = { role: 'admin', keyId: null };
          let credential: string | null = null;
          if (spec.roles !== 'public') {
            const header = request.headers.authorization;
            if (typeof header === 'string') {
              const m = /^Bearer\s+(\S+)\s*$/i.exec(header);
              if (!m) throw new TaskPulseError('unauthorized', 'send the credential as `Authorization: Bearer <credential>`');
              credential = m[1]!;
            } else if (spec.queryToken) {
              const t = (request.query as Record<string, unknown> | undefined)?.access_token;
              if (typeof t === 'string' && t.length > 0) credential = t;
            }
            if (credential === null) throw new TaskPulseError('unauthorized', 'a credential is required: `Authorization: Bearer <credential>`');
            const p = await authenticate(credential);
            if (!p) throw new TaskPulseError('unauthorized', 'the credential is not valid');
            if (!spec.roles.includes(p.role)) throw new TaskPulseError('forbidden', `a ${p.role} credential may not call ${spec.method} ${spec.url}`);
            if (p.role === 'worker' && spec.scopes && !spec.scopes.some((s) => p.scopes.has(s))) {
              throw new TaskPulseError('forbidden', `this API key lacks the ${spec.scopes.map((s) => `\`${s}\``).join(' or ')} scope needed for ${spec.method} ${spec.url}`);
            }
            principal = p;
            await afterAuth?.(p, spec as RouteSpec<ZodType | undefined, ZodType | undefined>, request, reply);
          }
          const params = (request.params ?? {}) as Record<string, string>;
          for (const [k, v] of Object.entries(params)) {
            if (!ID_PARAM.test(v)) throw new TaskPulseError('invalid_request', `${k} must be 1–128 characters without control characters`, { fields: [`params.${k}`] });
          }
          let body: unknown = undefined;
          let checked = false;
          if (spec.fastBody && request.body !== undefined && spec.fastBody(request.body)) {
            body = request.body;
            checked = true;
          } else if (request.body !== undefined) {
            // Whatever the route reads, a hostile body is refused whole: non-finite numbers
            // (1e400 parses to Infinity), NUL bytes, absurd nesting.
            const problem = checkJson(request.body); // the body limit is enforced by the parser
            if (problem) throw new TaskPulseError('invalid_request', `body: ${problem}`, { fields: ['body'] });
          }
          if (spec.body && !checked) {
            const raw = request.body === undefined ? {} : request.body;
            const parsed = spec.body.safeParse(raw);
            if (!parsed.success) throw fromZod(parsed.error, 'body');
            body = parsed.data;
          }
          let query: unknown = undefined;
          if (spec.query) {
            const parsed = spec.query.safeParse(request.query ?? {});
            if (!parsed.success) throw fromZod(parsed.error, 'query');
            query = parsed.data;
          }
          if (spec.status) reply.code(spec.status);
          const out = await handler({ principal, credential, body, query, params, request, reply } as never);
          if (reply.sent) return reply;
          return out;
        },
      });
    },
  };
}
