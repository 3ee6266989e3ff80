/**
 * Versioned schema migrations for the PostgreSQL store. `schema_migrations` records each applied
 * version; they are applied in one transaction under an advisory lock, so instances that start
 * together neither race nor apply a version twice.
 */
import { SORT_SQL } from '../task-sort.ts';
import { POSTGRES_TYPES, sharedTables } from '../schema.ts';
import type pg from 'pg';

export const MIGRATIONS: readonly string[] = [
  /* 1: initial schema (the tables both engines have, with PostgreSQL types) */ `${sharedTables(POSTGRES_TYPES)}
  CREATE INDEX stage_runs_ended ON stage_runs(ended_at_ms);
  -- One row: the head seq. Every write transaction locks it first (SELECT … FOR UPDATE), so
  -- writers commit one after another, in seq order (see postgres/index.ts).
  CREATE TABLE taskpulse_meta (id int PRIMARY KEY CHECK (id = 1), head bigint NOT NULL);
  INSERT INTO taskpulse_meta (id, head) VALUES (1, 0);
  CREATE TABLE webhooks (
    id text PRIMARY KEY, url text NOT NULL, events text[] NOT NULL, secret text NOT NULL, created_at text NOT NULL,
    cursor bigint NOT NULL
  );
  CREATE TABLE webhook_deliveries (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, webhook_id text NOT NULL, seq bigint NOT NULL, event text NOT NULL,
    payload text NOT NULL, status text NOT NULL, attempts int NOT NULL, next_attempt_at_ms bigint NOT NULL, last_status int,
    last_error text, created_at text NOT NULL, delivered_at text
  );
  CREATE INDEX webhook_deliveries_due ON webhook_deliveries(status, next_attempt_at_ms);
  CREATE INDEX webhook_deliveries_hook ON webhook_deliveries(webhook_id, id);
  `,
  /* 2: API key scopes (a JSON array; NULL = a worker key made before scopes: every worker power) */ `
  ALTER TABLE api_keys ADD COLUMN scopes text;
  `,
  /* 3: how right the ETA was on completed tasks (eta/calibration.ts) */ `
  CREATE TABLE eta_checks (
    type text NOT NULL, ended_at_ms bigint NOT NULL, checkpoint int NOT NULL, error double precision, inside boolean,
    width double precision
  );
  CREATE INDEX eta_checks_ended ON eta_checks(ended_at_ms);
  `,
  /* 4: lists that stay fast at 100,000 tasks: ordered indexes for the health scan, the type filter and each sort (task-sort.ts) */ `
  CREATE INDEX tasks_status_n ON tasks(status, n);
  CREATE INDEX tasks_type_n ON tasks(type, n);
  CREATE INDEX tasks_sort_status ON tasks((${SORT_SQL.postgres.status}), n);
  `,
  /* 5: no index on progress or last update (made by an earlier version of 4): they change with every report */ `
  DROP INDEX IF EXISTS tasks_sort_updated;
  DROP INDEX IF EXISTS tasks_sort_progress;
  `,
  /* 6: compact log: a task event stores the fields that differ from a version of its task (event-diff.ts); at_ms: when the version was written (pruning) */ `
  CREATE TABLE task_versions (
    task_id text NOT NULL, seq bigint NOT NULL, at_ms bigint NOT NULL, json text NOT NULL,
    PRIMARY KEY (task_id, seq)
  );
  ALTER TABLE events ADD COLUMN base bigint;
  `,
  /* 7: where the truth fell against the ETA model's own band, for the band's calibration (eta/calibration.ts) */ `
  ALTER TABLE eta_checks ADD COLUMN reach double precision;
  `,
  /* 8: room on each page of tasks for the next version of its rows: a report's update stays HOT (write-tx.ts, leaseColumn) */ `
  ALTER TABLE tasks SET (fillfactor = 50);
  `,
  /* 9: a large task input is kept apart from its row, which every report rewrites (task-docs.ts) */ `
  CREATE TABLE task_inputs (id text PRIMARY KEY, input text NOT NULL);
  `,
];

/** Applies the missing migrations to the client's current schema. */
export async function migrate(client: pg.ClientBase, createSchema: string | null): Promise<void> {
  // Migrations may take longer than the store's short session timeouts (meant for the write
  // path), and an instance starting beside a migrating one must wait for it, not give up.
  await client.query("BEGIN; SET LOCAL lock_timeout = 0; SET LOCAL statement_timeout = 0; SET LOCAL idle_in_transaction_session_timeout = 0");
  try {
    // Transaction-scoped: released by COMMIT/ROLLBACK. Keyed by schema so separate schemas don't wait on each other.
    await client.query("SELECT pg_advisory_xact_lock(hashtext('taskpulse:migrate:' || coalesce($1, current_schema())))", [createSchema]);
    if (createSchema !== null) await client.query(`CREATE SCHEMA IF NOT EXISTS ${quoteIdent(createSchema)}`);
    await client.query('CREATE TABLE IF NOT EXISTS schema_migrations (version int PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())');
    const { rows } = await client.query<{ v: number | null }>('SELECT max(version) AS v FROM schema_migrations');
    for (let v = rows[0]?.v ?? 0; v < MIGRATIONS.length; v++) {
      await client.query(MIGRATIONS[v]!);
      await client.query('INSERT INTO schema_migrations (version) VALUES ($1)', [v + 1]);
    }
    await client.query('COMMIT');
  } catch (error) {
    await client.query('ROLLBACK').catch(() => {});
    throw error;
  }
}

export function quoteIdent(name: string): string {
  return '"' + name.replace(/"/g, '""') + '"';
}
