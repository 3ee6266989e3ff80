/**
 * The tables both engines have, written once: the first migration of each engine builds them
 * from here with its own column types (`sqlite/migrations.ts`, `postgres/migrations.ts`), then
 * adds what only it has (SQLite's `meta`; PostgreSQL's head row and its webhook tables). Later
 * migrations stay per engine: each is a step an engine's databases have taken.
 */

/** How an engine spells each kind of column. */
export interface ColumnTypes {
  text: string;
  /** Whole numbers up to 2^53 (seqs, milliseconds). */
  bigint: string;
  real: string;
  /** A JSON array the engine can search (tags). */
  json: string;
  bool: string;
  /** The row number every new row takes, in order: the primary key. */
  rowNumber: string;
}

export const SQLITE_TYPES: ColumnTypes = Object.freeze({
  text: 'TEXT', bigint: 'INTEGER', real: 'REAL', json: 'TEXT', bool: 'INTEGER', rowNumber: 'INTEGER PRIMARY KEY AUTOINCREMENT',
});

export const POSTGRES_TYPES: ColumnTypes = Object.freeze({
  text: 'text', bigint: 'bigint', real: 'double precision', json: 'jsonb', bool: 'boolean', rowNumber: 'bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY',
});

/** Tasks, idempotency keys, the event log, task logs, inboxes, stage runs, API keys and settings. */
export function sharedTables(t: ColumnTypes): string {
  return `
  CREATE TABLE tasks (
    n ${t.rowNumber},
    id ${t.text} NOT NULL UNIQUE,
    type ${t.text} NOT NULL,
    owner ${t.text} NOT NULL,
    status ${t.text} NOT NULL,
    parent_id ${t.text},
    tags ${t.json} NOT NULL,
    lease_expires_at ${t.bigint},
    doc ${t.text} NOT NULL
  );
  CREATE INDEX tasks_queue ON tasks(status, type, n);
  CREATE INDEX tasks_owner ON tasks(owner, n);
  CREATE INDEX tasks_parent ON tasks(parent_id, n);
  CREATE INDEX tasks_lease ON tasks(status, lease_expires_at);
  CREATE TABLE idempotency (
    scope ${t.text} NOT NULL, key ${t.text} NOT NULL, task_id ${t.text} NOT NULL, fingerprint ${t.text} NOT NULL,
    PRIMARY KEY (scope, key)
  );
  CREATE TABLE events (
    seq ${t.bigint} PRIMARY KEY,
    type ${t.text} NOT NULL,
    at_ms ${t.bigint} NOT NULL,
    task_id ${t.text},
    owner ${t.text} NOT NULL,
    task_type ${t.text},
    parent_id ${t.text},
    tags ${t.json} NOT NULL,
    milestone ${t.bool} NOT NULL,
    json ${t.text} NOT NULL
  );
  CREATE INDEX events_task ON events(task_id, seq);
  CREATE INDEX events_owner ON events(owner, seq);
  CREATE TABLE logs (
    task_id ${t.text} NOT NULL, seq ${t.bigint} NOT NULL, at ${t.text} NOT NULL, level ${t.text} NOT NULL, message ${t.text} NOT NULL,
    PRIMARY KEY (task_id, seq)
  );
  CREATE TABLE notifications (
    id ${t.text} PRIMARY KEY, seq ${t.bigint} NOT NULL, owner ${t.text} NOT NULL, task_id ${t.text} NOT NULL, kind ${t.text} NOT NULL,
    title ${t.text} NOT NULL, body ${t.text} NOT NULL, created_at ${t.text} NOT NULL, read_at ${t.text}
  );
  CREATE INDEX notifications_owner ON notifications(owner, seq);
  CREATE TABLE stage_runs (
    type ${t.text} NOT NULL, stage ${t.text} NOT NULL, duration_ms ${t.bigint} NOT NULL, size ${t.real}, ended_at_ms ${t.bigint} NOT NULL
  );
  CREATE INDEX stage_runs_type ON stage_runs(type, ended_at_ms);
  CREATE TABLE api_keys (
    id ${t.text} PRIMARY KEY, name ${t.text}, role ${t.text} NOT NULL, prefix ${t.text} NOT NULL, hash ${t.text} NOT NULL UNIQUE,
    created_at ${t.text} NOT NULL, last_used_at ${t.text}, revoked_at ${t.text}
  );
  CREATE TABLE settings (name ${t.text} PRIMARY KEY, value ${t.text} NOT NULL);
  `;
}
