/**
 * SQLite's statements for a unit of work (`WriteTx`), on the write connection and the shared
 * unit of work (task cache, dirty rows, seqs). Task events are stored as their difference from the
 * task's version (event-diff.ts); `versions` is journaled with the unit, so an undone unit's
 * versions are undone too.
 */
import type Database from 'better-sqlite3';
import { compactEvent, pieceOf, type TaskVersion } from '../event-diff.ts';
import type { TaskRecord, WriteTx } from '../store.ts';
import type { JournaledMap, UnitOfWork } from '../unit-of-work.ts';
import { Params, unreadWhere } from '../sql.ts';
import { SQLITE } from './dialect.ts';
import { queuePosition } from './tasks.ts';
import { TaskDocs, type TaskInputs } from './task-docs.ts';
import type { DeferredRows } from './deferred-rows.ts';

export function sqliteWriteTx(db: Database.Database, uow: UnitOfWork, versions: JournaledMap<TaskVersion>, inputs: TaskInputs, rows: DeferredRows): WriteTx {
  const docs = new TaskDocs(db);
  const s = {
    getTask: db.prepare('SELECT doc FROM tasks WHERE id = ?').pluck(),
    insertTask: db.prepare('INSERT INTO tasks (id, type, owner, status, parent_id, tags, lease_expires_at, doc) VALUES (?, ?, ?, ?, ?, ?, ?, ?)'),
    insertIdem: db.prepare('INSERT INTO idempotency (scope, key, task_id, fingerprint) VALUES (?, ?, ?, ?)'),
    findIdem: db.prepare('SELECT task_id AS taskId, fingerprint FROM idempotency WHERE scope = ? AND key = ?'),
    nextQueuedAny: db.prepare("SELECT doc FROM tasks WHERE status = 'queued' ORDER BY n LIMIT 1").pluck(),
    expired: db.prepare("SELECT doc FROM tasks WHERE status = 'running' AND lease_expires_at < ? ORDER BY lease_expires_at LIMIT ?").pluck(),
    insertEvent: db.prepare(
      'INSERT INTO events (seq, type, at_ms, task_id, owner, task_type, parent_id, tags, milestone, json, base) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)',
    ),
    insertVersion: db.prepare('INSERT INTO task_versions (task_id, seq, json) VALUES (?, ?, ?)'),
    insertLog: db.prepare('INSERT INTO logs (task_id, seq, at, level, message) VALUES (?, ?, ?, ?, ?)'),
    insertNotification: db.prepare(
      'INSERT INTO notifications (id, seq, owner, task_id, kind, title, body, created_at, read_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)',
    ),
    recordStageRun: db.prepare('INSERT INTO stage_runs (type, stage, duration_ms, size, ended_at_ms) VALUES (?, ?, ?, ?, ?)'),
    recordEtaCheck: db.prepare('INSERT INTO eta_checks (type, ended_at_ms, checkpoint, error, inside, width, reach) VALUES (?, ?, ?, ?, ?, ?, ?)'),
  };
  // The port is synchronous (savepoints are eager), so these never wait.
  const change = () => void uow.beforeChange();
  const flush = () => void uow.flush();
  return {
    getTask: (id) => {
      const hit = uow.tasks.get(id) ?? rows.get(id);
      if (hit) return hit;
      const rec = docs.parse(s.getTask.get(id));
      if (rec) uow.remember(rec);
      return rec;
    },
    insertTask: (t, idem) => {
      change();
      s.insertTask.run(t.id, t.type, t.owner, t.status, t.parentId, JSON.stringify(t.tags), t.lease?.expiresAtMs ?? null, inputs.doc(t));
      if (idem) s.insertIdem.run(idem.scope, idem.key, t.id, idem.fingerprint);
      uow.remember(t);
    },
    updateTask: (t) => uow.update(t),
    findIdempotent: (scope, key) => (s.findIdem.get(scope, key) as { taskId: string; fingerprint: string } | undefined) ?? null,
    nextQueued: (types) => {
      flush();
      if (types.length === 0) return docs.parse(s.nextQueuedAny.get());
      const sql = `SELECT doc FROM tasks WHERE status = 'queued' AND type IN (${types.map(() => '?').join(',')}) ORDER BY n LIMIT 1`;
      return docs.parse(db.prepare(sql).pluck().get(...types));
    },
    expiredLeases: (nowMs, limit) => {
      flush();
      // A row whose lease a deferred report renewed still holds the old expiry: read past those.
      const found = (s.expired.all(nowMs, limit + rows.size) as string[]).map((d) => {
        const rec = docs.parse(d)!;
        return uow.tasks.get(rec.id) ?? rows.get(rec.id) ?? rec;
      });
      return found.filter((t) => t.status === 'running' && t.lease !== null && t.lease.expiresAtMs < nowMs).slice(0, limit);
    },
    queuePosition: (t) => {
      flush();
      return queuePosition(db, t);
    },
    appendEvent: (e) => {
      change();
      return uow.append((seq) => {
        // A task event is stored as its difference from the task's version (event-diff.ts).
        const c = compactEvent(seq, e, versions);
        if (c.version !== null) s.insertVersion.run(e.taskId, seq, c.version);
        s.insertEvent.run(seq, e.type, c.atMs, e.taskId, e.owner, e.taskType, e.parentId, pieceOf('tags', e.tags), e.milestone ? 1 : 0, c.row, c.base);
        return c.stored;
      });
    },
    insertLog: (taskId, seq, at, level, message) => {
      change();
      s.insertLog.run(taskId, seq, at, level, message);
    },
    insertNotification: (n) => {
      change();
      s.insertNotification.run(n.id, n.seq, n.owner, n.taskId, n.kind, n.title, n.body, n.createdAt, n.readAt);
    },
    markNotificationsRead: (owner, sel, readAt) => {
      change();
      const p = new Params(SQLITE);
      const where = unreadWhere(owner, sel, p);
      const ids = db.prepare(`SELECT id FROM notifications WHERE ${where.join(' AND ')}`).pluck().all(...p.values) as string[];
      if (ids.length > 0) {
        db.prepare(`UPDATE notifications SET read_at = ? WHERE id IN (${ids.map(() => '?').join(',')})`).run(readAt, ...ids);
      }
      return ids;
    },
    recordStageRun: (r) => {
      change();
      s.recordStageRun.run(r.type, r.stage, r.durationMs, r.size, r.endedAtMs);
    },
    recordEtaChecks: (checks) => {
      change();
      for (const c of checks) s.recordEtaCheck.run(c.type, c.endedAtMs, c.checkpoint, c.error, c.inside === null ? null : c.inside ? 1 : 0, c.width, c.reach ?? null);
    },
  };
}
