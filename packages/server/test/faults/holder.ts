/**
 * A stand-in for an instance that freezes while it holds the cluster-wide head lock: it opens a
 * PostgresStore (the real one, with its real session timeouts), starts a write, and inside it —
 * head lock taken — prints `holding` and waits. The test SIGSTOPs it; after SIGCONT it tries one
 * more statement, which must fail (its session was ended), and says so.
 *
 * Usage: node --import tsx holder.ts <database-url>
 */
import { PostgresStore } from '../../src/store/postgres/postgres-store.ts';

const store = await PostgresStore.open({ connectionString: process.argv[2]! });
store
  .write(async (tx) => {
    await tx.getTask('no-such-task'); // a statement inside the transaction: the head lock is ours
    process.stdout.write('holding\n');
    await new Promise((resume) => process.once('SIGCONT', resume)); // frozen in between
    await tx.getTask('no-such-task'); // its session was ended meanwhile: this fails, the process lives
  })
  .catch((error: unknown) => process.stdout.write(`write failed: ${(error as Error).message}\n`));
