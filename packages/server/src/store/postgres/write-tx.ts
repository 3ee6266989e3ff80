/**
 * PostgreSQL's statements for a unit of work (`WriteTx`), in the batch's transaction (the port)
 * and on the shared unit of work (task cache, dirty rows, seqs). Task rows are read without row
 * locks: every write to `tasks` is made under the head lock, which the batch holds from its first
 * statement to COMMIT (unit-of-work-port.ts), so no other instance changes them meanwhile.
 */
import { compactEvent, type TaskVersion } from '../event-diff.ts';
import { Params, queuePosition, unreadWhere } from '../sql.ts';
import type { TaskRecord, WriteTx } from '../store.ts';
import type { JournaledMap, UnitOfWork } from '../unit-of-work.ts';
import { POSTGRES } from './dialect.ts';
import type { PostgresPort } from './unit-of-work-port.ts';
import { DOC_COLUMNS, insertInputs, type PostgresTaskInputs } from './task-docs.ts';

/**
 * Another instance may prune a version this one still holds in memory once no retained event
 * refers to it: so a version is reused for at most this long (event time), and pruning keeps a
 * version at least twice as long (events.ts), whatever the retention.
 */
export const VERSION_REUSE_MS = 10 * 60_000;

/**
 * `lease_expires_at` holds the lease's expiry rounded up to this: a report renews the lease, and an
 * update that changes an indexed column (the reaper's index) cannot be HOT — it would add an entry
 * to every index of `tasks` and leave a dead row behind for VACUUM. Rounded, the column changes once
 * per bucket, the row is updated in place (HOT) and its page pruned by the next update. The reaper
 * reads the exact expiry from the document (expiredLeases).
 */
export const LEASE_BUCKET_MS = 5000;

export function leaseColumn(t: TaskRecord): number | null {
  return t.lease ? Math.ceil(t.lease.expiresAtMs / LEASE_BUCKET_MS) * LEASE_BUCKET_MS : null;
}

export function postgresWriteTx(port: PostgresPort, uow: UnitOfWork, versions: JournaledMap<TaskVersion>, inputs: PostgresTaskInputs): WriteTx {
  return {
    getTask: async (id) => {
      const hit = uow.tasks.get(id);
      if (hit) return hit;
      const { rows } = await port.q(`SELECT ${DOC_COLUMNS} FROM tasks WHERE id = $1`, [id]);
      const rec = inputs.read(rows[0]);
      if (rec) uow.remember(rec);
      return rec;
    },
    insertTask: async (t, idem) => {
      const { doc, input } = inputs.doc(t);
      const values = [t.id, t.type, t.owner, t.status, t.parentId, JSON.stringify(t.tags), leaseColumn(t), doc];
      // A large input goes apart in the same statement (task-docs.ts).
      const apart = input === null ? '' : `WITH i AS (${insertInputs(`(VALUES ($1::text, $${values.push(input)}::text)) AS v(i, j)`)}) `;
      await port.change(`${apart}INSERT INTO tasks (id, type, owner, status, parent_id, tags, lease_expires_at, doc) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`, values);
      if (idem) {
        await port.change('INSERT INTO idempotency (scope, key, task_id, fingerprint) VALUES ($1, $2, $3, $4)', [
          idem.scope, idem.key, t.id, idem.fingerprint,
        ]);
      }
      uow.remember(t);
    },
    updateTask: (t) => uow.update(t),
    findIdempotent: async (scope, key) => {
      const { rows } = await port.q('SELECT task_id AS "taskId", fingerprint FROM idempotency WHERE scope = $1 AND key = $2', [scope, key]);
      return (rows[0] as { taskId: string; fingerprint: string } | undefined) ?? null;
    },
    nextQueued: async (types) => {
      await uow.flush();
      const { rows } =
        types.length === 0
          ? await port.q(`SELECT ${DOC_COLUMNS} FROM tasks WHERE status = 'queued' ORDER BY n LIMIT 1`)
          : await port.q(`SELECT ${DOC_COLUMNS} FROM tasks WHERE status = 'queued' AND type = ANY($1) ORDER BY n LIMIT 1`, [types]);
      return uow.fresh(inputs.read(rows[0]));
    },
    expiredLeases: async (nowMs, limit) => {
      await uow.flush();
      const { rows } = await port.q(
        // The column is at most LEASE_BUCKET_MS later than the expiry: the index finds the candidates, the document decides.
        `SELECT ${DOC_COLUMNS} FROM tasks, LATERAL (SELECT (doc::json #>> '{lease,expiresAtMs}')::double precision AS expires) l
         WHERE status = 'running' AND lease_expires_at < $1::bigint + ${LEASE_BUCKET_MS} AND l.expires < $1
         ORDER BY lease_expires_at, l.expires LIMIT $2`,
        [nowMs, limit],
      );
      return rows.map((r) => uow.fresh(inputs.read(r))!);
    },
    queuePosition: async (t) => {
      await uow.flush();
      return queuePosition(POSTGRES, async (sql, params) => (await port.q(sql, params)).rows, t);
    },
    // We hold the head lock: this number is ours, and commits happen in this order. The events
    // are inserted together at COMMIT (the port's insertEvents), a task event as its diff from
    // the task's version (event-diff.ts).
    appendEvent: (e) => uow.append((seq) => port.compact(compactEvent(seq, e, versions, VERSION_REUSE_MS))),
    insertLog: async (taskId, seq, at, level, message) => {
      await port.change('INSERT INTO logs (task_id, seq, at, level, message) VALUES ($1, $2, $3, $4, $5)', [taskId, seq, at, level, message]);
    },
    insertNotification: async (n) => {
      await port.change(
        'INSERT INTO notifications (id, seq, owner, task_id, kind, title, body, created_at, read_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)',
        [n.id, n.seq, n.owner, n.taskId, n.kind, n.title, n.body, n.createdAt, n.readAt],
      );
    },
    markNotificationsRead: async (owner, sel, readAt) => {
      const p = new Params(POSTGRES);
      const set = p.add(readAt);
      const where = unreadWhere(owner, sel, p);
      const { rows } = await port.change(
        `UPDATE notifications SET read_at = ${set} WHERE id IN (SELECT id FROM notifications WHERE ${where.join(' AND ')} ORDER BY seq) RETURNING id, seq`,
        p.values,
      );
      return (rows as { id: string; seq: number }[]).sort((a, b) => a.seq - b.seq).map((r) => r.id);
    },
    recordStageRun: async (r) => {
      await port.change('INSERT INTO stage_runs (type, stage, duration_ms, size, ended_at_ms) VALUES ($1, $2, $3, $4, $5)', [
        r.type, r.stage, r.durationMs, r.size, r.endedAtMs,
      ]);
    },
    recordEtaChecks: async (checks) => {
      if (checks.length === 0) return;
      const p = new Params(POSTGRES);
      const rows = checks.map((c) => `(${[c.type, c.endedAtMs, c.checkpoint, c.error, c.inside, c.width, c.reach ?? null].map((v) => p.add(v)).join(', ')})`);
      await port.change(`INSERT INTO eta_checks (type, ended_at_ms, checkpoint, error, inside, width, reach) VALUES ${rows.join(', ')}`, p.values);
    },
  };
}
