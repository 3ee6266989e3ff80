/** `useConnectionState()`: how the client is getting its events right now. */
import type { ConnectionStatus } from '@taskpulse/client';
import { useSyncExternalStore } from 'react';
import { useTaskPulseClient } from './provider.tsx';

/**
 * The connection's state and the reason of its last change, re-rendering on every change.
 * States: `connecting`, `live` (stream), `polling` (stream failed or silent; reading
 * `/v1/events` every 1–5 s while push is retried), `offline` (no network, or credentials
 * refused: reason `unauthorized`), `closed`.
 *
 * @example
 * ```tsx
 * const { state, reason } = useConnectionState();
 * return <span title={reason}>{state === 'live' ? 'Live' : state === 'polling' ? 'Reconnecting…' : state}</span>;
 * ```
 */
export function useConnectionState(): ConnectionStatus {
  const { connection } = useTaskPulseClient();
  // `connection.subscribe`/`getSnapshot` are stable functions (client SPEC invariant 17).
  return useSyncExternalStore(connection.subscribe, connection.getSnapshot, connection.getSnapshot);
}
