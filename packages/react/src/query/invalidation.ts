/**
 * Invalidating the app's own TanStack Query keys when task events arrive — what seed 001 wired
 * by hand (a provider listening to realtime events and calling `invalidateQueries` on six key
 * families). Pure and free of React: rules, matching, and a coalescing invalidator that needs
 * only `queryClient.invalidateQueries`, so it is tested in Node.
 */
import type { TaskEvent } from '@taskpulse/client';
import { EVENT_TYPES } from '@taskpulse/protocol/constants';

/** The event types, as the server names them (API.md, "Events"); one list, in the protocol. */
export { EVENT_TYPES };

/** An event type. */
export type EventType = (typeof EVENT_TYPES)[number];
// The compiler checks that the list above is complete: a new server event type breaks this line.
const COMPLETE: Record<Exclude<TaskEvent['type'], EventType>, never> = {};
void COMPLETE;

/**
 * Events that change what an app usually shows besides the progress bar: a task appears, or
 * ends (its result is stored). Progress (`task.updated`) is left out by default: a worker may
 * report many times a second, and the live bar comes from `useTask`, not from a refetch.
 */
export const DEFAULT_EVENTS: readonly EventType[] = Object.freeze(['task.created', 'task.completed', 'task.failed', 'task.canceled']);

/** A TanStack Query key (structurally, so this module needs no TanStack import). */
export type QueryKey = readonly unknown[];

/** One rule: which events invalidate which query key. */
export interface InvalidationRule {
  /**
   * The key to invalidate — a prefix, as in `invalidateQueries({queryKey})`, unless `exact` —
   * or a function of the event returning it (`null` skips the event).
   * @example `['tasks']`, or `(e) => ['project', e.task?.metadata.projectId]`
   */
  queryKey: QueryKey | ((event: TaskEvent) => QueryKey | null | undefined);
  /** Event types that match. @defaultValue {@link DEFAULT_EVENTS} */
  events?: readonly EventType[] | 'all';
  /** Only events of tasks of this type (or one of these types). */
  taskType?: string | readonly string[];
  /** Only events of tasks carrying this tag. */
  tag?: string;
  /** Only events of this task. */
  taskId?: string;
  /** Any further condition. */
  when?: (event: TaskEvent) => boolean;
  /** Invalidate only the query with exactly this key, not every key it prefixes. @defaultValue false */
  exact?: boolean;
}

/** What the invalidator needs of a `QueryClient`. */
export interface InvalidatingQueryClient {
  invalidateQueries(filters: { queryKey: QueryKey; exact?: boolean }): Promise<unknown>;
}

/** Options of {@link createQueryInvalidator}. */
export interface QueryInvalidatorOptions {
  /**
   * Invalidations are gathered for this long and each key is invalidated once, so a burst of
   * events costs one refetch per query. `0` invalidates on the next macrotask. @defaultValue 100
   */
  delayMs?: number;
  /** Replaces the global timers (tests). */
  timers?: { setTimeout(callback: () => void, ms: number): unknown; clearTimeout(handle: unknown): void };
  /** Called when `invalidateQueries` rejects or a rule throws. @defaultValue ignore */
  onError?: (error: unknown) => void;
}

/** Feeds events in; invalidates matching keys, coalesced. */
export interface QueryInvalidator {
  /** Handles one event; pass it to `client.onEvent`. Bound: `client.onEvent(invalidator.handle)`. */
  handle: (event: TaskEvent) => void;
  /** Invalidates what is pending now. */
  flush(): void;
  /** Invalidates what is pending and stops; later events are ignored. Idempotent. */
  close(): void;
}

/** Throws a `TypeError` naming the first bad field of `rules`. */
export function validateRules(rules: readonly InvalidationRule[]): void {
  if (!Array.isArray(rules)) throw new TypeError(`\`rules\` must be an array, got ${typeof rules}`);
  rules.forEach((rule, i) => {
    const at = `rules[${i}]`;
    if (rule === null || typeof rule !== 'object') throw new TypeError(`\`${at}\` must be an object`);
    if (!Array.isArray(rule.queryKey) && typeof rule.queryKey !== 'function') {
      throw new TypeError(`\`${at}.queryKey\` must be an array or a function, got ${typeof rule.queryKey}`);
    }
    if (rule.events !== undefined && rule.events !== 'all') {
      if (!Array.isArray(rule.events)) throw new TypeError(`\`${at}.events\` must be an array of event types or 'all'`);
      for (const type of rule.events) {
        if (!(EVENT_TYPES as readonly string[]).includes(type)) {
          throw new TypeError(`\`${at}.events\` has an unknown event type "${String(type)}"; known: ${EVENT_TYPES.join(', ')}`);
        }
      }
    }
    if (rule.when !== undefined && typeof rule.when !== 'function') throw new TypeError(`\`${at}.when\` must be a function`);
  });
}

/** True when `event` matches every condition of `rule`. */
export function matchesRule(rule: InvalidationRule, event: TaskEvent): boolean {
  const events = rule.events ?? DEFAULT_EVENTS;
  if (events !== 'all' && !events.includes(event.type)) return false;
  const task = event.task;
  if (rule.taskId !== undefined && event.taskId !== rule.taskId) return false;
  if (rule.taskType !== undefined) {
    const types: readonly string[] = typeof rule.taskType === 'string' ? [rule.taskType] : rule.taskType;
    if (task === undefined || !types.includes(task.type)) return false;
  }
  if (rule.tag !== undefined && (task === undefined || !task.tags.includes(rule.tag))) return false;
  if (rule.when !== undefined && !rule.when(event)) return false;
  return true;
}

/** The `{queryKey, exact}` filters `event` asks to invalidate, deduplicated, in rule order. */
export function invalidationsFor(rules: readonly InvalidationRule[], event: TaskEvent): Array<{ queryKey: QueryKey; exact: boolean }> {
  const out = new Map<string, { queryKey: QueryKey; exact: boolean }>();
  for (const rule of rules) {
    if (!matchesRule(rule, event)) continue;
    const queryKey = typeof rule.queryKey === 'function' ? rule.queryKey(event) : rule.queryKey;
    if (queryKey === null || queryKey === undefined) continue;
    const exact = rule.exact ?? false;
    out.set(`${exact ? '=' : '^'}${hashKey(queryKey)}`, { queryKey, exact });
  }
  return [...out.values()];
}

/** A stable string for a query key: object keys sorted, as TanStack hashes keys. */
export function hashKey(queryKey: QueryKey): string {
  return JSON.stringify(queryKey, (_, value: unknown) =>
    value !== null && typeof value === 'object' && !Array.isArray(value)
      ? Object.fromEntries(Object.entries(value as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
      : value,
  );
}

const GLOBAL_TIMERS = {
  setTimeout: (callback: () => void, ms: number): unknown => setTimeout(callback, ms),
  clearTimeout: (handle: unknown): void => clearTimeout(handle as ReturnType<typeof setTimeout>),
};

/**
 * Invalidates the app's query keys when matching task events arrive, each key at most once per
 * `delayMs`. Use it without React, or through {@link useInvalidateOnEvents}.
 *
 * @param rules - the rules, or a function returning the current ones (read at every event).
 * @example
 * ```ts
 * const invalidator = createQueryInvalidator(queryClient, [
 *   { queryKey: ['tasks'] },
 *   { queryKey: ['generations'], events: ['task.completed'], taskType: 'ai-search' },
 * ]);
 * const off = client.onEvent(invalidator.handle);
 * ```
 */
export function createQueryInvalidator(
  queryClient: InvalidatingQueryClient,
  rules: readonly InvalidationRule[] | (() => readonly InvalidationRule[]),
  options: QueryInvalidatorOptions = {},
): QueryInvalidator {
  if (queryClient === null || typeof queryClient?.invalidateQueries !== 'function') {
    throw new TypeError('`queryClient` must have an invalidateQueries method (a TanStack QueryClient)');
  }
  if (typeof rules !== 'function') validateRules(rules);
  const delayMs = options.delayMs ?? 100;
  if (typeof delayMs !== 'number' || !Number.isFinite(delayMs) || delayMs < 0) {
    throw new TypeError(`\`delayMs\` must be a non-negative number of milliseconds, got ${String(delayMs)}`);
  }
  const timers = options.timers ?? GLOBAL_TIMERS;
  const onError = options.onError ?? (() => {});
  const currentRules = typeof rules === 'function' ? rules : () => rules;
  const pending = new Map<string, { queryKey: QueryKey; exact: boolean }>();
  let timer: unknown = null;
  let closed = false;

  const flush = () => {
    if (timer !== null) timers.clearTimeout(timer);
    timer = null;
    const batch = [...pending.values()];
    pending.clear();
    for (const filters of batch) {
      try {
        queryClient.invalidateQueries(filters).catch(onError);
      } catch (error) {
        onError(error);
      }
    }
  };

  return {
    handle: (event) => {
      if (closed) return;
      let found: Array<{ queryKey: QueryKey; exact: boolean }>;
      try {
        found = invalidationsFor(currentRules(), event);
      } catch (error) {
        onError(error);
        return;
      }
      for (const filters of found) pending.set(`${filters.exact ? '=' : '^'}${hashKey(filters.queryKey)}`, filters);
      if (pending.size > 0 && timer === null) timer = timers.setTimeout(flush, delayMs);
    },
    flush,
    close: () => {
      if (closed) return;
      closed = true;
      flush();
    },
  };
}
