/** Small helpers the examples share. */

/** Waits `ms`, or rejects with the signal's reason as soon as it aborts (cancel, lease loss, shutdown). */
export function delay(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal!.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** A whole number in [min, max]. */
export function between(min: number, max: number): number {
  return min + Math.floor(Math.random() * (max - min + 1));
}

/** Reads a task with the API key (examples that wait on their children use it). */
export async function getTask<T = unknown>(url: string, apiKey: string, id: string, signal?: AbortSignal): Promise<T> {
  const response = await fetch(`${url.replace(/\/+$/, '')}/v1/tasks/${encodeURIComponent(id)}`, {
    headers: { authorization: `Bearer ${apiKey}` },
    ...(signal ? { signal } : {}),
  });
  if (!response.ok) throw new Error(`GET /v1/tasks/${id}: HTTP ${response.status}`);
  return (await response.json()) as T;
}
