#!/usr/bin/env node
// Development launcher: runs the CLI from its TypeScript sources through tsx, resolving every
// @taskpulse/* package to its src/ (the `@taskpulse/source` export condition), so tests and
// benchmarks need no build. The published command is bin/taskpulse.js (package.json "bin"), which runs dist/.
import { register } from 'node:module';
import { register as registerTsx } from 'tsx/esm/api';

registerTsx();
// Registered after tsx, so it runs first: adds the condition, then lets tsx resolve.
register(
  'data:text/javascript,' +
    encodeURIComponent(
      `export function resolve(s, c, next) { return next(s, { ...c, conditions: [...c.conditions, '@taskpulse/source'] }); }`,
    ),
);
const { main } = await import('../src/main.ts');
await main(process.argv.slice(2));
