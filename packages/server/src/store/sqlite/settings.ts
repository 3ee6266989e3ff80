/** SQLite: server settings, read on the write connection (the value a write just stored). */
import type Database from 'better-sqlite3';
import type { SettingStore } from '../store.ts';

export class SqliteSettings implements SettingStore {
  readonly #db: Database.Database;
  readonly #write: <T>(fn: () => T) => Promise<T>;

  constructor(db: Database.Database, write: <T>(fn: () => T) => Promise<T>) {
    this.#db = db;
    this.#write = write;
  }

  async get(name: string): Promise<string | null> {
    return (this.#db.prepare('SELECT value FROM settings WHERE name = ?').pluck().get(name) as string | undefined) ?? null;
  }

  async setIfAbsent(name: string, value: string): Promise<string> {
    await this.#write(() => this.#db.prepare('INSERT OR IGNORE INTO settings (name, value) VALUES (?, ?)').run(name, value));
    return (await this.get(name))!;
  }
}
