#!/usr/bin/env node
/** The `taskpulse` command (compiled to dist/bin.js, the package's `bin`). */
import { main } from './main.ts';

await main(process.argv.slice(2));
