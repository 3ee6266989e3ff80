/**
 * The one place hooks build their store: once per (client, key), in state, so a re-render with
 * the same key keeps the same store and a new key (another task id, another filter) swaps it.
 */
import type { TaskPulseClient } from '@taskpulse/client';
import { useState } from 'react';
import type { ExternalStore } from './watch-binding.ts';

interface Held<T> {
  client: TaskPulseClient;
  key: string;
  store: ExternalStore<T>;
}

/**
 * Returns the store for `key`, building it with `create` on the first render and whenever the
 * client or the key changes. React's "adjust state during render" pattern: the new store is
 * stored before React commits, so the render that uses it and the state agree.
 */
export function useStoreFor<T>(client: TaskPulseClient, key: string, create: () => ExternalStore<T>): ExternalStore<T> {
  const [held, setHeld] = useState<Held<T>>(() => ({ client, key, store: create() }));
  if (held.client === client && held.key === key) return held.store;
  const next: Held<T> = { client, key, store: create() };
  setHeld(next);
  return next.store;
}
