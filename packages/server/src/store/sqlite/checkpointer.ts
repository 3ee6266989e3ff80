/**
 * WAL checkpoints off the event loop. SQLite's automatic checkpoint runs inside whichever COMMIT
 * crosses the threshold, so one worker's report would pay for copying megabytes of pages (and an
 * fsync) while every other request waits. A worker thread with its own connection runs PASSIVE
 * checkpoints instead: they never block the writer, and the writer never waits for them.
 * The main connection keeps a high automatic threshold as a safety net if the thread dies.
 */
import { Worker } from 'node:worker_threads';
import { createRequire } from 'node:module';

const SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const Database = require(workerData.module);
const db = new Database(workerData.file);
db.pragma('busy_timeout = 5000');
const timer = setInterval(() => {
  try { db.pragma('wal_checkpoint(PASSIVE)'); } catch {}
}, workerData.intervalMs);
parentPort.on('message', (m) => {
  if (m !== 'close') return;
  clearInterval(timer);
  try { db.pragma('wal_checkpoint(PASSIVE)'); } catch {}
  db.close();
  parentPort.postMessage('closed');
});
`;

export class Checkpointer {
  readonly #worker: Worker;
  #closing: Promise<void> | null = null;

  constructor(file: string, intervalMs = 1000) {
    const module = createRequire(import.meta.url).resolve('better-sqlite3');
    this.#worker = new Worker(SOURCE, { eval: true, workerData: { file, intervalMs, module } });
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
