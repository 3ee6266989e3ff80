/**
 * The one helper for tests that wait, in real time, for something to become true (a server's
 * answer, a rendered page, a child process's output, a timer on the other side of a socket): it
 * checks `condition` every `everyMs` and, once `timeoutMs` has passed, rejects naming `what` and
 * the last error the condition threw (a condition may throw while the answer is not there yet).
 * The default deadline is generous: two loaded cores run five sessions' tests. Shared by every
 * package's tests (imported by path, so no package depends on another for it) and browser-safe
 * (the React browser harness bundles it). Fake-time tests step their clock instead
 * (`packages/client/test/support/harness.ts › until`).
 */
export async function eventually(
  what: string,
  condition: () => boolean | Promise<boolean>,
  timeoutMs = 20_000,
  everyMs = 20,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      if (await condition()) return;
      last = undefined;
    } catch (error) {
      last = error;
    }
    if (Date.now() > deadline) {
      const why = last === undefined ? '' : `; last error: ${last instanceof Error ? last.message : String(last)}`;
      throw new Error(`timed out after ${timeoutMs} ms waiting for: ${what}${why}`, { cause: last });
    }
    await new Promise((resolve) => setTimeout(resolve, everyMs));
  }
}
