/** Versioned schema migrations for the SQLite store; `PRAGMA user_version` records the applied count. */
import type Database from 'better-sqlite3';
import { SORT_SQL } from '../task-sort.ts';
import { SQLITE_TYPES, sharedTables } from '../schema.ts';

export const MIGRATIONS: readonly string[] = [
  /* 1: initial schema */ `${sharedTables(SQLITE_TYPES)}
  CREATE INDEX events_at ON events(at_ms);
  CREATE TABLE meta (k TEXT PRIMARY KEY, v INTEGER NOT NULL);
  INSERT INTO meta (k, v) VALUES ('head', 0);
  `,
  /* 2: events are pruned by seq (found by binary search on at_ms), so at_ms needs no index */ `
  DROP INDEX events_at;
  `,
  /* 3: webhooks and their durable delivery outbox */ `
  CREATE TABLE webhooks (
    id TEXT PRIMARY KEY, url TEXT NOT NULL, events TEXT NOT NULL, secret TEXT NOT NULL, created_at TEXT NOT NULL,
    cursor INTEGER NOT NULL
  );
  CREATE TABLE webhook_deliveries (
    id INTEGER PRIMARY KEY AUTOINCREMENT, webhook_id TEXT NOT NULL, seq INTEGER NOT NULL, event TEXT NOT NULL, payload TEXT NOT NULL,
    status TEXT NOT NULL, attempts INTEGER NOT NULL, next_attempt_at_ms INTEGER NOT NULL, last_status INTEGER, last_error TEXT,
    created_at TEXT NOT NULL, delivered_at TEXT
  );
  CREATE INDEX webhook_deliveries_due ON webhook_deliveries(status, next_attempt_at_ms);
  CREATE INDEX webhook_deliveries_hook ON webhook_deliveries(webhook_id, id);
  `,
  /* 4: compact log: a task event stores the fields that differ from a version of its task (event-diff.ts) */ `
  ALTER TABLE events ADD COLUMN base INTEGER;
  CREATE TABLE task_versions (
    task_id TEXT NOT NULL, seq INTEGER NOT NULL, json TEXT NOT NULL,
    PRIMARY KEY (task_id, seq)
  ) WITHOUT ROWID;
  `,
  /* 5: API key scopes (a JSON array; NULL = a worker key made before scopes: every worker power) */ `
  ALTER TABLE api_keys ADD COLUMN scopes TEXT;
  `,
  /* 6: how right the ETA was on completed tasks (eta/calibration.ts) */ `
  CREATE TABLE eta_checks (
    type TEXT NOT NULL, ended_at_ms INTEGER NOT NULL, checkpoint INTEGER NOT NULL, error REAL, inside INTEGER, width REAL
  );
  CREATE INDEX eta_checks_ended ON eta_checks(ended_at_ms);
  `,
  /*
   * 7: lists that stay fast at 100,000 tasks (bench/dashboard.ts). The health scan's "running,
   * newest first" and a type filter read an index in order instead of sorting every match (1.8 s
   * and 0.75 s, blocking the event loop, at 100k); each sort the list offers reads an index
   * (task-sort.ts), so a sorted page reads 50 rows, not the table.
   */ `
  CREATE INDEX tasks_status_n ON tasks(status, n);
  CREATE INDEX tasks_type_n ON tasks(type, n);
  CREATE INDEX tasks_sort_status ON tasks(${SORT_SQL.sqlite.status}, n);
  `,
  /* 8: indexes on progress and last update, made by an earlier version of 7: they change with every report (twice the WAL per report) */ `
  DROP INDEX IF EXISTS tasks_sort_updated;
  DROP INDEX IF EXISTS tasks_sort_progress;
  `,
  /* 9: where the truth fell against the ETA model's own band, for the band's calibration (eta/calibration.ts) */ `
  ALTER TABLE eta_checks ADD COLUMN reach REAL;
  `,
  /* 10: a large task input is kept apart from its row, which every report rewrites (task-docs.ts) */ `
  CREATE TABLE task_inputs (id TEXT PRIMARY KEY, input TEXT NOT NULL) WITHOUT ROWID;
  `,
  /*
   * 11: the log's per-task and per-owner keys are written in bulk, every few thousand events, not
   * with each commit (event-keys.ts): an index on events(task_id, seq) dirtied one page per task
   * per commit, two thirds of what a report wrote.
   */ `
  CREATE TABLE events_by_task (k TEXT NOT NULL, s INTEGER NOT NULL, PRIMARY KEY (k, s)) WITHOUT ROWID;
  CREATE TABLE events_by_owner (k TEXT NOT NULL, s INTEGER NOT NULL, PRIMARY KEY (k, s)) WITHOUT ROWID;
  INSERT INTO events_by_task (k, s) SELECT task_id, seq FROM events WHERE task_id IS NOT NULL ORDER BY task_id, seq;
  INSERT INTO events_by_owner (k, s) SELECT owner, seq FROM events ORDER BY owner, seq;
  INSERT INTO meta (k, v) VALUES ('keyed', coalesce((SELECT max(seq) FROM events), 0));
  DROP INDEX events_task;
  DROP INDEX events_owner;
  `,
  /* 12: rows of progress written behind the log (deferred-rows.ts): every row holds every change up to meta.rows */ `
  INSERT INTO meta (k, v) VALUES ('rows', coalesce((SELECT max(seq) FROM events), 0));
  `,
];

/** Applies the missing migrations, each in its own transaction. */
export function migrate(db: Database.Database): void {
  const version = db.pragma('user_version', { simple: true }) as number;
  for (let v = version; v < MIGRATIONS.length; v++) {
    db.transaction(() => {
      db.exec(MIGRATIONS[v]!);
      db.pragma(`user_version = ${v + 1}`);
    })();
  }
}
