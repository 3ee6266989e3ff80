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
/** A public route's caller. */
const PUBLIC: Principal = Object.freeze({ role: 'admin', keyId: null });
const ROUTE = Symbol('taskpulse.route');

/** The pattern of the route that handled `request` (`/v1/tasks/:id`), once its handler ran. */
export const routeOf = (request: FastifyRequest): string | undefined => (request as FastifyRequest & { [ROUTE]?: string })[ROUTE];

/** Runs once the caller is known (rate limits per credential); throws to refuse; a promise when it must wait. */
export type AfterAuth = (principal: Principal, spec: RouteSpec<ZodType | undefined, ZodType | undefined>, request: FastifyRequest, reply: FastifyReply) => Promise<void> | void;

export function createRouter(app: FastifyInstance, authenticate: Authenticate, afterAuth?: AfterAuth): Router {
  const specs: RouteSpec<ZodType | undefined, ZodType | undefined>[] = [];
  return {
    specs,
    route(spec, handler) {
      specs.push(spec as RouteSpec<ZodType | undefined, ZodType | undefined>);
      const anySpec = spec as RouteSpec<ZodType | undefined, ZodType | undefined>;
      // Every request of the API passes here: no promise is awaited that need not be (a cached
      // API key and the in-memory rate limits answer at once), nothing is allocated per request
      // that can be made once.
      const forbidden = spec.roles === 'public' ? null : `may not call ${spec.method} ${spec.url}`;
      const missingScope = spec.scopes
        ? `this API key lacks the ${spec.scopes.map((s) => `\`${s}\``).join(' or ')} scope needed for ${spec.method} ${spec.url}`
        : null;
      app.route({
        method: spec.method,
        url: spec.url,
        handler: async (request, reply) => {
          (request as FastifyRequest & { [ROUTE]?: string })[ROUTE] = spec.url;
          let principal = PUBLIC;
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
            const found = authenticate(credential);
            // Awaited only when it is a promise (a JWKS fetch, a key not seen lately): any thenable.
            const p = found !== null && typeof (found as PromiseLike<unknown>).then === 'function' ? await found : (found as Principal | null);
            if (!p) throw new TaskPulseError('unauthorized', 'the credential is not valid');
            if (!spec.roles.includes(p.role)) throw new TaskPulseError('forbidden', `a ${p.role} credential ${forbidden}`);
            if (p.role === 'worker' && spec.scopes && !hasScope(p.scopes, spec.scopes)) throw new TaskPulseError('forbidden', missingScope!);
            principal = p;
            const limited = afterAuth?.(p, anySpec, request, reply);
            if (limited !== undefined) await limited;
          }
          const params = (request.params ?? {}) as Record<string, string>;
          for (const k in params) {
            if (!ID_PARAM.test(params[k]!)) throw new TaskPulseError('invalid_request', `${k} must be 1–128 characters without control characters`, { fields: [`params.${k}`] });
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

function hasScope(granted: ReadonlySet<Scope>, needed: readonly Scope[]): boolean {
  for (const s of needed) if (granted.has(s)) return true;
  return false;
}
