#!/usr/bin/env node
// Runs the TypeScript sources through tsx, so `npm install` needs no build step.
import { register } from 'tsx/esm/api';

register();
const { main } = await import('../src/main.ts');
await main(process.argv.slice(2));
