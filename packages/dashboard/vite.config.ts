import { defineConfig } from 'vite';
import react from '@vitejs/plugin-react';

/**
 * Relative asset paths (`./assets/…`): the app works wherever it is mounted; the server maps
 * `…/assets/<file>` under any client-side route back to this folder's assets.
 */
export default defineConfig({
  base: './',
  // Built from the workspace packages' TypeScript sources (their `@taskpulse/source` export), so
  // the app never picks up a stale dist/ of @taskpulse/client or @taskpulse/react.
  resolve: { conditions: ['@taskpulse/source', 'module', 'browser', 'development|production'] },
  plugins: [react()],
  build: { outDir: 'dist', emptyOutDir: true, target: 'es2022', sourcemap: false, chunkSizeWarningLimit: 400 },
  server: { proxy: { '/v1': process.env.TASKPULSE_URL ?? 'http://127.0.0.1:8080' } },
});
