/**
 * `taskpulse watch <id>`: a live progress bar in the terminal. The browser client does the
 * reading (snapshot, SSE with heartbeats and watchdog, polling fallback, reconnects from its
 * cursor), so the terminal shows the same truth a page would.
 */
import { createClient, type TaskView } from '@taskpulse/client';
import type { Task } from '@taskpulse/protocol';
import { TERMINAL_STATUSES } from '@taskpulse/protocol/constants';

export interface WatchOptions {
  url: string;
  credential: string;
  taskId: string;
  out?: NodeJS.WriteStream;
}

const TERMINAL = new Set<string>(TERMINAL_STATUSES);

export function renderLine(t: Task, width = 30): string {
  const pct = t.progress.percent;
  const filled = pct === null ? 0 : Math.round((pct / 100) * width);
  const bar = pct === null ? '·'.repeat(width) : '█'.repeat(filled) + '░'.repeat(width - filled);
  const stage = t.stage ? ` ${t.stage.label} (${t.stage.index + 1}/${t.stage.count})` : '';
  const eta = t.eta?.remainingMs != null ? ` ~${Math.ceil(t.eta.remainingMs / 1000)}s left` : '';
  const pctText = pct === null ? '  ?  ' : `${pct.toFixed(1).padStart(5)}%`;
  return `${t.status.padEnd(9)} [${bar}] ${pctText}${stage}${eta}${t.message ? ` — ${t.message}` : ''}`;
}

/** Resolves with an exit code: 0 completed, 1 failed or canceled, 2 on error. */
export async function watch({ url, credential, taskId, out = process.stdout }: WatchOptions): Promise<number> {
  // One process, one reader: no tab sharing, no health reports; skip superseded progress when behind.
  const client = createClient({ url, token: credential, multiTab: false, metricsIntervalMs: 0, coalesce: true });
  const view = client.watchTask(taskId);
  try {
    const task = await new Promise<Task | undefined>((resolve) => {
      const show = ({ task, error }: TaskView) => {
        if (task !== undefined) out.write(`\r\x1b[2K${renderLine(task)}`);
        if (task !== undefined && TERMINAL.has(task.status)) resolve(task);
        else if (task === undefined && error !== undefined) {
          console.error(`taskpulse watch: ${error.status ?? error.code} ${error.message}`);
          resolve(undefined);
        }
      };
      view.subscribe(show);
      show(view.getSnapshot());
    });
    if (task === undefined) return 2;
    out.write('\n');
    if (task.status === 'failed' && task.error) console.error(`error: ${task.error.code}: ${task.error.message}`);
    return task.status === 'completed' ? 0 : 1;
  } finally {
    await client.close();
  }
}
