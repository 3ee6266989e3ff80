/** PostgreSQL: server settings, race-free across instances. */
import type { SettingStore } from '../store.ts';
import type { PgRead } from './tasks.ts';

export class PostgresSettings implements SettingStore {
  readonly #read: PgRead;

  constructor(read: PgRead) {
    this.#read = read;
  }

  async get(name: string): Promise<string | null> {
    return ((await this.#read('SELECT value FROM settings WHERE name = $1', [name]))[0]?.value as string | undefined) ?? null;
  }

  async setIfAbsent(name: string, value: string): Promise<string> {
    // Race-free across instances: the first insert wins, everyone reads the winner.
    await this.#read('INSERT INTO settings (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING', [name, value]);
    return (await this.get(name))!;
  }
}
