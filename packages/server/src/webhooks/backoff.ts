/** Full-jitter backoff: random(0, min(maxMs, baseMs · 2^attempt)), at least `minMs`. */
export function backoffMs(attempt: number, baseMs: number, maxMs: number, random: () => number = Math.random, minMs = 0): number {
  const cap = Math.min(maxMs, baseMs * 2 ** Math.min(attempt, 30));
  return Math.max(minMs, Math.floor(random() * cap));
}
