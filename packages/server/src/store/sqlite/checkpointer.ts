/**
 * WAL checkpoints off the event loop. SQLite's automatic checkpoint runs inside whichever COMMIT
 * crosses the threshold, so one worker's report would pay for copying megabytes of pages (and an
 * fsync) while every other request waits. A worker thread with its own connection runs PASSIVE
 * checkpoints instead: they never block the writer, and the writer never waits for them.
 *
 * PASSIVE alone does not bound the WAL file: SQLite only rewinds the WAL to its start when a writer
 * finds it fully checkpointed and no reader using it, which under steady writes with readers
 * (streams, polls) almost never happens — the file grew to ~200 MB at ~700 writes/s. So once the
 * file passes `truncateBytes` the thread runs a TRUNCATE checkpoint: it finishes copying (PASSIVE
 * has already done most of it), waits for readers to move to the database file, and cuts the WAL
 * to zero bytes. The main connection's writes wait for it meanwhile (a few ms; see
 * docs/benchmarks.md), which is why it runs only past the size limit and not on every tick.
 * `journal_size_limit` (set on the main connection) also trims the file whenever SQLite rewinds it.
 * The main connection keeps a high automatic threshold as a safety net if the thread dies.
 */
import { Worker } from 'node:worker_threads';
import { createRequire } from 'node:module';

const SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const { statSync } = require('node:fs');
const Database = require(workerData.module);
const db = new Database(workerData.file);
db.pragma('busy_timeout = 1000');
const walSize = () => { try { return statSync(workerData.file + '-wal').size; } catch { return 0; } };
const tick = () => {
  try {
    db.pragma('wal_checkpoint(PASSIVE)');
    if (walSize() > workerData.truncateBytes) db.pragma('wal_checkpoint(TRUNCATE)');
  } catch {}
};
const timer = setInterval(tick, workerData.intervalMs);
parentPort.on('message', (m) => {
  if (m !== 'close') return;
  clearInterval(timer);
  try { db.pragma('wal_checkpoint(TRUNCATE)'); } catch {}
  db.close();
  parentPort.postMessage('closed');
});
`;

/** When the checkpoint thread runs, and past which WAL size it truncates. */
export const CHECKPOINT_DEFAULTS = Object.freeze({ intervalMs: 250, truncateBytes: 16 * 1024 * 1024 });

export class Checkpointer {
  readonly #worker: Worker;
  #closing: Promise<void> | null = null;

  constructor(file: string, options: { intervalMs?: number; truncateBytes?: number } = {}) {
    const module = createRequire(import.meta.url).resolve('better-sqlite3');
    const workerData = { ...CHECKPOINT_DEFAULTS, ...options, file, module };
    this.#worker = new Worker(SOURCE, { eval: true, workerData });
    this.#worker.unref();
    this.#worker.on('error', () => {}); // the main connection's automatic checkpoint takes over
  }

  close(): Promise<void> {
    return (this.#closing ??= new Promise<void>((resolve) => {
      const done = () => resolve();
      this.#worker.once('message', () => void this.#worker.terminate().then(done, done));
      this.#worker.once('exit', done);
      this.#worker.postMessage('close');
      setTimeout(() => void this.#worker.terminate().then(done, done), 2000).unref();
    }));
  }
}
