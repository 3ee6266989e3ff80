/**
 * Durability: the server process killed with SIGKILL under load loses no acknowledged report
 * and no acknowledged result; after a restart streams resume from their cursor with no gap.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { ADMIN, SseReader } from './support.ts';

const BIN = resolve(import.meta.dirname, '../../cli/bin/taskpulse.mjs');
const dir = mkdtempSync(join(tmpdir(), 'taskpulse-kill-'));
const db = join(dir, 'kill.db');
const children: ChildProcess[] = [];
afterAll(() => {
  for (const c of children) c.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
});

async function serve(): Promise<{ url: string; proc: ChildProcess }> {
  const proc = spawn(process.execPath, [BIN, 'serve', '--port', '0', '--db', db, '--log-level', 'warn', '--heartbeat-ms', '200'], {
    env: { ...process.env, TASKPULSE_ADMIN_KEY: ADMIN },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  children.push(proc);
  const url = await new Promise<string>((resolveUrl, reject) => {
    let out = '';
    proc.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /listening on (http:\/\/\S+)/.exec(out);
      if (m) resolveUrl(m[1]!);
    });
    proc.once('exit', (code) => reject(new Error(`server exited with ${code} before listening`)));
  });
  return { url, proc };
}

async function call(url: string, method: string, path: string, body?: unknown): Promise<{ status: number; body: any }> {
  const res = await fetch(url + path, {
    method,
    headers: { authorization: `Bearer ${ADMIN}`, ...(body ? { 'content-type': 'application/json' } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : null };
}

it('loses no acknowledged report or result when killed under load, and streams resume with no gap', async () => {
  const first = await serve();
  const reader = await SseReader.open(`${first.url}/v1/stream?after=0`, ADMIN);

  // Acknowledged state per task: the last acked `done` and, when completed, its result.
  const acked = new Map<string, { done: number; seq: number; result?: unknown }>();
  const ackedSeqs: number[] = [];
  let killed = false;
  const writer = async (w: number) => {
    try {
      const c = await call(first.url, 'POST', '/v1/tasks', { type: 'kill', owner: `o${w % 3}`, start: true });
      const { task, lease } = c.body;
      acked.set(task.id, { done: 0, seq: task.seq });
      for (let i = 1; !killed; i++) {
        if (i % 25 === 0) {
          const r = await call(first.url, 'POST', `/v1/tasks/${task.id}/complete`, { lease: lease.token, result: { w, i } });
          if (r.status === 200) {
            acked.set(task.id, { done: i - 1, seq: r.body.seq, result: { w, i } });
            ackedSeqs.push(r.body.seq);
          }
          return writer(w + 100);
        }
        const r = await call(first.url, 'POST', `/v1/tasks/${task.id}/progress`, { lease: lease.token, done: i, total: 1000 });
        if (r.status === 200) {
          acked.set(task.id, { done: i, seq: r.body.seq });
          ackedSeqs.push(r.body.seq);
        }
      }
    } catch {
      // the server died mid-request: that report was never acknowledged
    }
  };
  const writers = Array.from({ length: 10 }, (_, w) => writer(w));
  await reader.until((e) => e.filter((x) => x.event.startsWith('task.')).length > 300, 60_000);
  const exited = new Promise((r) => first.proc.once('exit', r));
  first.proc.kill('SIGKILL');
  killed = true;
  await Promise.all(writers);
  await exited;
  await reader.untilEnded().catch(() => {});
  const seenBefore = reader.events.filter((e) => e.event.startsWith('task.') || e.event.startsWith('notification.')).map((e) => Number(e.id));
  const cursor = Number([...reader.events].reverse().find((e) => e.id !== null)!.id);

  const second = await serve();
  try {
    // Every acknowledged seq is in the log, and the log is dense.
    const log: any[] = [];
    let after = 0;
    for (;;) {
      const r = await call(second.url, 'GET', `/v1/events?after=${after}&limit=1000`);
      log.push(...r.body.events);
      if (r.body.events.length === 0) break;
      after = r.body.head;
    }
    const seqs = log.map((e) => e.seq);
    expect(seqs).toEqual(Array.from({ length: seqs.length }, (_, i) => i + 1));
    const inLog = new Set(seqs);
    expect(ackedSeqs.length).toBeGreaterThan(100);
    expect(ackedSeqs.filter((s) => !inLog.has(s))).toEqual([]);

    // Every task is at least where its last acknowledgement left it; results survived.
    for (const [id, a] of acked) {
      const task = (await call(second.url, 'GET', `/v1/tasks/${id}`)).body;
      expect(task.seq).toBeGreaterThanOrEqual(a.seq);
      if (a.result !== undefined) {
        expect(task.status).toBe('completed');
        expect(task.result).toEqual(a.result);
      } else {
        expect(task.progress.done ?? 0).toBeGreaterThanOrEqual(a.done);
      }
    }

    // The stream resumes from its cursor: exactly the events after it, with no gap.
    const resumed = await SseReader.open(`${second.url}/v1/stream`, ADMIN, { 'last-event-id': String(cursor) });
    const head = seqs.at(-1)!;
    await resumed.until((e) => e.some((x) => x.event === 'heartbeat' && Number(x.id) >= head));
    const after2 = resumed.events.filter((e) => e.event.startsWith('task.') || e.event.startsWith('notification.')).map((e) => Number(e.id));
    resumed.close();
    expect([...seenBefore, ...after2]).toEqual(seqs);
  } finally {
    const exited2 = new Promise((r) => second.proc.once('exit', r));
    second.proc.kill('SIGTERM');
    const code = await exited2;
    expect(code).toBe(0); // SIGTERM: drain and exit cleanly
  }
}, 120_000);
