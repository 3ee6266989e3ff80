/** `useInvalidateOnEvents`: the TanStack Query binding of {@link createQueryInvalidator}. */
import { type QueryClient, useQueryClient } from '@tanstack/react-query';
import { useEffect, useRef } from 'react';
import { useTaskPulseClient } from '../provider.tsx';
import { createQueryInvalidator, type InvalidationRule, validateRules } from './invalidation.ts';

/** Options of {@link useInvalidateOnEvents}. */
export interface UseInvalidateOnEventsOptions {
  /** The QueryClient to invalidate. @defaultValue the one of the nearest `QueryClientProvider` */
  queryClient?: QueryClient;
  /** Gather invalidations for this long; each key is invalidated once. @defaultValue 100 */
  delayMs?: number;
}

/**
 * While mounted, invalidates the app's own query keys when matching task events arrive (from
 * the stream, or from polling while the stream is down: the client's log has no gaps, so no
 * event is missed). Rules may be an inline array: the latest ones are used, nothing
 * re-subscribes.
 *
 * @example
 * ```tsx
 * useInvalidateOnEvents([
 *   { queryKey: ['tasks'] },                                             // created or finished
 *   { queryKey: ['generations'], events: ['task.completed'], taskType: 'ai-search' },
 *   { queryKey: (e) => ['project', e.task?.metadata.projectId], tag: 'project-scoped' },
 * ]);
 * ```
 */
export function useInvalidateOnEvents(rules: readonly InvalidationRule[], options: UseInvalidateOnEventsOptions = {}): void {
  const client = useTaskPulseClient();
  const queryClient = useQueryClient(options.queryClient);
  validateRules(rules);
  const latest = useRef(rules);
  useEffect(() => {
    latest.current = rules;
  });
  const { delayMs } = options;
  useEffect(() => {
    const invalidator = createQueryInvalidator(queryClient, () => latest.current, delayMs === undefined ? {} : { delayMs });
    const off = client.onEvent(invalidator.handle);
    return () => {
      off();
      invalidator.close();
    };
  }, [client, queryClient, delayMs]);
}
