/**
 * `@taskpulse/react/query` — TanStack Query integration: invalidate the app's own query keys
 * when task events arrive. A separate entry point because `@tanstack/react-query` is an
 * optional peer dependency of `@taskpulse/react`.
 * @packageDocumentation
 */
export { createQueryInvalidator, DEFAULT_EVENTS, EVENT_TYPES, hashKey, invalidationsFor, matchesRule, validateRules } from './invalidation.ts';
export type {
  EventType,
  InvalidatingQueryClient,
  InvalidationRule,
  QueryInvalidator,
  QueryInvalidatorOptions,
  QueryKey,
} from './invalidation.ts';
export { useInvalidateOnEvents } from './use-invalidate-on-events.ts';
export type { UseInvalidateOnEventsOptions } from './use-invalidate-on-events.ts';
