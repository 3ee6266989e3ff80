/**
 * The default transport: a {@link FetchLike} over `node:http` / `node:https` with a keep-alive
 * agent. Why not the global `fetch`: undici's WHATWG layer (Request/Response objects, web
 * streams for every body, abort-signal plumbing) costs more CPU per request than the whole rest
 * of the SDK. Measured with `bench/sdk-cpu.mjs` (100 jobs × 300 awaited updates, ~43 updates per
 * request): 142 µs of SDK CPU per update with the global fetch, 56–65 µs with this (see
 * docs/benchmarks.md). A custom `fetch` option still replaces it entirely.
 */
import http from 'node:http';
import https from 'node:https';
import type { FetchLike } from './http.ts';

// Idle sockets of a keep-alive agent are unref'd by Node, so they never keep a process alive.
const AGENTS = { 'http:': new http.Agent({ keepAlive: true }), 'https:': new https.Agent({ keepAlive: true }) };

type Init = Parameters<FetchLike>[1];
type Answer = Awaited<ReturnType<FetchLike>>;

/** `fetch` for the SDK's JSON requests: the whole body is read before the promise resolves. */
export const nodeFetch: FetchLike = (input: string, init: Init): Promise<Answer> =>
  new Promise<Answer>((resolve, reject) => {
    const url = new URL(input);
    const secure = url.protocol === 'https:';
    const headers: Record<string, string | number> = { ...init.headers };
    if (init.body !== undefined) headers['content-length'] = Buffer.byteLength(init.body);
    const req = (secure ? https : http).request(
      {
        protocol: url.protocol,
        hostname: url.hostname.replace(/^\[|\]$/g, ''), // IPv6 literals come bracketed
        port: url.port || (secure ? 443 : 80),
        path: url.pathname + url.search,
        method: init.method,
        headers,
        agent: secure ? AGENTS['https:'] : AGENTS['http:'],
        ...(init.signal ? { signal: init.signal } : {}),
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (text += chunk));
        res.on('error', reject);
        res.on('end', () => {
          const got = res.headers;
          resolve({
            status: res.statusCode ?? 0,
            headers: {
              get: (name: string) => {
                const v = got[name.toLowerCase()];
                return v === undefined ? null : Array.isArray(v) ? v.join(', ') : v;
              },
            },
            text: () => Promise.resolve(text),
          });
        });
        // A connection cut mid-body ends without 'end' (and, depending on timing, without 'error').
        res.on('close', () => {
          if (!res.complete) reject(new Error('the connection closed before the answer was complete'));
        });
      },
    );
    req.on('error', reject);
    req.end(init.body);
  });
