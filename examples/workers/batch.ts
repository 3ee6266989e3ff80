/**
 * A batch job with child items: the parent creates one child task per item, then waits for them;
 * its `children` counts and percent come from the server as the children finish. Children are
 * created with an idempotency key per (parent, item), so a retried parent never duplicates them.
 */
import type { CreateTaskOptions, Handler, Task } from '@taskpulse/worker';
import { between, delay, getTask } from './util.ts';

export const BATCH_TYPE = 'batch';
export const BATCH_ITEM_TYPE = 'batch-item';

export interface BatchInput {
  /** How many child items. @defaultValue 20 */
  items?: number;
  /** Every n-th item fails for good (0 = none). @defaultValue 0 */
  failEvery?: number;
  /** Scales every wait (0 = as fast as possible). @defaultValue 1 */
  speed?: number;
}

export interface BatchItemInput {
  index: number;
  fail?: boolean;
  speed?: number;
}

export function batchTask(owner: string, items = 20, failEvery = 7): CreateTaskOptions {
  return { type: BATCH_TYPE, owner, input: { items, failEvery } satisfies BatchInput, tags: ['demo'] };
}

/**
 * The parent. It needs the server URL and key to read its own task while it waits (the SDK
 * writes; reading is the client's job).
 */
export function batchHandler({ url, apiKey, pollMs = 250 }: { url: string; apiKey: string; pollMs?: number }): Handler {
  return async (task, ctx) => {
    const input = (task.input ?? {}) as BatchInput;
    const items = input.items ?? 20;
    const failEvery = input.failEvery ?? 0;
    // No own progress or stages: the parent's percent is its children's.
    for (let i = 1; i <= items; i++) {
      await ctx.child({
        type: BATCH_ITEM_TYPE,
        input: { index: i, fail: failEvery > 0 && i % failEvery === 0, speed: input.speed ?? 1 } satisfies BatchItemInput,
        maxAttempts: 2,
        idempotencyKey: `${task.id}:item:${i}`,
      });
    }
    ctx.log('info', `created ${items} items`);
    for (;;) {
      const self = await getTask<Task>(url, apiKey, task.id, ctx.signal);
      const c = self.children;
      if (c.total >= items && c.completed + c.failed + c.canceled === c.total) {
        return { items: c.total, completed: c.completed, failed: c.failed, canceled: c.canceled };
      }
      await delay(pollMs, ctx.signal);
    }
  };
}

/** One item: a little work, then a result; some fail on purpose. */
export const batchItemHandler: Handler = async (task, ctx) => {
  const input = (task.input ?? {}) as BatchItemInput;
  const k = input.speed ?? 1;
  const steps = 5;
  for (let s = 1; s <= steps; s++) {
    await delay(between(50, 250) * k, ctx.signal);
    ctx.progress(s, steps);
  }
  if (input.fail) throw new Error(`item ${input.index}: the directory rejected the submission`);
  return { index: input.index, url: `https://directory.example/listing/${input.index}` };
};
