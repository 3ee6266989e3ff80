/**
 * The starting point of a page: the active tasks and the log position they are as new as.
 * Shown at once on load (no blank progress bar after F5), then events are read from `head`.
 */
import type { Snapshot } from '@taskpulse/protocol';
import type { Http } from './http.ts';

/**
 * `GET /v1/snapshot`: the active tasks as of the log's head, read consistently by the server —
 * the same as a stream's opening snapshot — so events can be read from `head` with no gap.
 */
export async function fetchSnapshot(http: Http): Promise<Snapshot> {
  return http.json<Snapshot>('GET', '/v1/snapshot');
}
