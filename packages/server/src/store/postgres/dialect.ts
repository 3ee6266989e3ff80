/** How PostgreSQL spells what `sql.ts` shares: `$n` placeholders, a list as one array parameter, jsonb operators. */
import type { SqlDialect } from '../sql.ts';
import { SORT_SQL } from '../task-sort.ts';
import { SEARCH_TEXT } from './task-docs.ts';

export const POSTGRES = Object.freeze<SqlDialect>({
  name: 'postgres',
  placeholder: (n) => `$${n}`,
  oneOf: (column, values, p) => `${column} = ANY(${p.add(values)})`,
  hasTag: (_table, tag, p) => `tags ? ${p.add(tag)}`,
  // strpos, not LIKE: the text is matched as it is, `%` and `_` included.
  contains: (text, needle, p) => `strpos(lower(${text}), lower(${p.add(needle)})) > 0`,
  docField: (field) => `doc::jsonb->>'${field}'`,
  // Large inputs are kept apart (task-docs.ts); a search still finds what is in them.
  searchText: SEARCH_TEXT,
  lastRow: '9223372036854775807',
  sort: SORT_SQL.postgres,
});
