#!/usr/bin/env node
// The `taskpulse` command: the compiled CLI in dist/. A committed file (not dist/bin.js) so npm can
// link the command at install time, before a clone's `prepare` has built dist/.
// (bin/taskpulse.mjs beside it is the development launcher that runs the sources.)
import { main } from '../dist/main.js';

await main(process.argv.slice(2));
