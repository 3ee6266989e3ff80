/**
 * A stand-in for an instance that freezes while it holds the cluster-wide head lock. It opens one
 * connection with the store's session settings (passed by the test from POSTGRES_DEFAULTS), runs
 * what every write batch of the store begins with — `BEGIN; SELECT head … FOR UPDATE` — prints
 * `holding` and waits for a line on stdin. The test SIGSTOPs it, lets the other instance write,
 * SIGCONTs it and sends that line; it then tries one more statement, which must fail (PostgreSQL
 * ended the session meanwhile), prints one JSON line saying how it went and exits. Plain
 * JavaScript: it starts in a fraction of the time a TypeScript child would on a loaded machine.
 *
 * It waits on stdin, not on a SIGCONT listener: a signal listener does not keep a Node process
 * alive (its handle is unref'd), so once PostgreSQL had closed the session the only thing left
 * holding the event loop open was that socket — when the holder saw the socket close before the
 * SIGCONT (the signal handled by another thread, or a stop that came late on a loaded machine) it
 * exited at once, silently, with code 13 ("unsettled top-level await"), and the test waited 30 s
 * for a line that never came. An open stdin keeps it alive until the test says go.
 *
 * Usage: node holder.mjs <database-url> <idle-in-transaction-timeout-ms>
 */
import { createInterface } from 'node:readline';
import pg from 'pg';

const client = new pg.Client({ connectionString: process.argv[2], idle_in_transaction_session_timeout: Number(process.argv[3]) });
/** What told this process its session was gone: the SQLSTATE (or message) of each error. */
const heard = [];
client.on('error', (error) => heard.push(error.code ?? error.message)); // as the store's listener, but it remembers why
await client.connect();
await client.query('BEGIN');
await client.query('SELECT head FROM taskpulse_meta WHERE id = 1 FOR UPDATE');
const lines = createInterface({ input: process.stdin })[Symbol.asyncIterator]();
process.stdout.write('holding\n');
await lines.next(); // the test's go-ahead, after SIGCONT (frozen before it)
let said;
try {
  await client.query({ text: 'SELECT 1', query_timeout: 10_000 }); // never hang: say what happened
  said = { verdict: 'still holding' };
} catch (error) {
  // The session's end reaches either the connection (no query running) or this query.
  said = { verdict: 'write failed', message: error.message, heard: [...heard, error.code ?? error.message] };
}
process.stdout.write(`${JSON.stringify(said)}\n`); // a pipe: written synchronously, before exit
process.exit(0);
