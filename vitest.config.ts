import { defineConfig } from 'vitest/config';

// Tests run against the TypeScript sources: every @taskpulse/* package exports its src/ under the
// `@taskpulse/source` condition (before `types`/`default`, which point at the build in dist/).
const conditions = ['@taskpulse/source'];

export default defineConfig({
  resolve: { conditions: [...conditions, 'module', 'browser', 'development|production'] },
  ssr: { resolve: { conditions: [...conditions, 'module', 'node', 'development|production'], externalConditions: conditions } },
  test: {
    include: ['packages/*/test/**/*.test.ts', 'packages/*/test/**/*.test.tsx', 'e2e/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    // Integration tests start real servers and browsers; two cores run them best a few at a time.
    maxWorkers: 2,
  },
});
