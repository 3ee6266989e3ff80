/** `taskpulse watch <id>`: a live progress bar in the terminal, read from the SSE stream. */
import type { Task } from '@taskpulse/protocol';

export interface WatchOptions {
  url: string;
  credential: string;
  taskId: string;
  out?: NodeJS.WriteStream;
}

const TERMINAL = new Set(['completed', 'failed', 'canceled']);

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
  const headers = { authorization: `Bearer ${credential}` };
  const first = await fetch(`${url}/v1/tasks/${encodeURIComponent(taskId)}`, { headers });
  if (!first.ok) {
    const body = (await first.json().catch(() => null)) as { error?: { message?: string } } | null;
    console.error(`taskpulse watch: ${first.status} ${body?.error?.message ?? first.statusText}`);
    return 2;
  }
  let task = (await first.json()) as Task;
  const show = () => out.write(`\r\x1b[2K${renderLine(task)}`);
  show();
  let cursor = task.seq;
  while (!TERMINAL.has(task.status)) {
    try {
      const res = await fetch(`${url}/v1/stream?taskId=${encodeURIComponent(taskId)}&after=${cursor}&coalesce=true`, { headers });
      if (!res.ok || !res.body) throw new Error(`stream answered ${res.status}`);
      const decoder = new TextDecoder();
      let buf = '';
      for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
        buf += decoder.decode(chunk, { stream: true });
        let i: number;
        while ((i = buf.indexOf('\n\n')) >= 0) {
          const frame = buf.slice(0, i);
          buf = buf.slice(i + 2);
          const id = /^id: (\d+)$/m.exec(frame);
          if (id) cursor = Math.max(cursor, Number(id[1]));
          const data = /^data: (.*)$/m.exec(frame);
          const type = /^event: (.*)$/m.exec(frame)?.[1];
          if (!data || !type?.startsWith('task.') || type === 'task.log') continue;
          const ev = JSON.parse(data[1]!) as { task?: Task };
          if (ev.task && ev.task.seq >= task.seq) task = ev.task;
          show();
        }
        if (TERMINAL.has(task.status)) break;
      }
    } catch {
      await new Promise((r) => setTimeout(r, 1000));
    }
  }
  out.write('\n');
  if (task.status === 'failed' && task.error) console.error(`error: ${task.error.code}: ${task.error.message}`);
  return task.status === 'completed' ? 0 : 1;
}
