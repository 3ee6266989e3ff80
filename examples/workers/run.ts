/**
 * Runs the demo against a server: `TASKPULSE_URL=http://127.0.0.1:8080 TASKPULSE_KEY=tpk_… npx tsx examples/workers/run.ts`.
 */
import { startDemo } from './demo.ts';

const url = process.env.TASKPULSE_URL ?? 'http://127.0.0.1:8080';
const apiKey = process.env.TASKPULSE_KEY ?? process.env.TASKPULSE_ADMIN_KEY;
if (!apiKey) {
  console.error('Set TASKPULSE_KEY (a worker key) or TASKPULSE_ADMIN_KEY.');
  process.exit(1);
}
const demo = await startDemo({ url, apiKey, owner: process.env.TASKPULSE_DEMO_OWNER ?? 'demo-user' });
console.log(`demo running against ${url}; Ctrl-C to stop`);
for (const sig of ['SIGINT', 'SIGTERM'] as const) process.once(sig, () => void demo.close().then(() => process.exit(0)));
