/**
 * A stand-in for an instance that freezes while it holds the cluster-wide head lock. It opens one
 * connection with the store's session settings (passed by the test from POSTGRES_DEFAULTS), runs
 * what every write batch of the store begins with — `BEGIN; SELECT head … FOR UPDATE` — prints
 * `holding` and waits. The test SIGSTOPs it; after SIGCONT it tries one more statement, which must
 * fail (PostgreSQL ended the session meanwhile), and says so. Plain JavaScript: it starts in a
 * fraction of the time a TypeScript child would on a loaded machine.
 *
 * Usage: node holder.mjs <database-url> <idle-in-transaction-timeout-ms>
 */
import pg from 'pg';

const client = new pg.Client({ connectionString: process.argv[2], idle_in_transaction_session_timeout: Number(process.argv[3]) });
let ended = '';
client.on('error', (error) => (ended ||= error.code ?? error.message)); // as the store's listener, but it remembers why
await client.connect();
await client.query('BEGIN');
await client.query('SELECT head FROM taskpulse_meta WHERE id = 1 FOR UPDATE');
// Listen for SIGCONT before saying `holding`: the test stops this process as soon as it reads
// that, and a SIGCONT that arrives before the listener is lost (its default action only resumes).
const resumed = new Promise((resume) => process.once('SIGCONT', resume));
process.stdout.write('holding\n');
await resumed; // frozen in between
try {
  await client.query({ text: 'SELECT 1', query_timeout: 10_000 }); // never hang: say what happened
  process.stdout.write('still holding\n');
} catch (error) {
  process.stdout.write(`write failed: ${error.message} (session ended: ${ended})\n`);
}
