/**
 * The one helper for tests that wait, in real time, for something to become true (a server's
 * answer, a rendered page, a child process's output): it checks `condition` every `everyMs`
 * and rejects naming `what` once `timeoutMs` has passed. Browser-safe (the React browser
 * harness bundles it). Fake-time tests step their clock instead (`harness.ts › until`).
 */
export async function eventually(
  what: string,
  condition: () => boolean | Promise<boolean>,
  timeoutMs = 20_000,
  everyMs = 20,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await condition()) return;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, everyMs));
  }
}
