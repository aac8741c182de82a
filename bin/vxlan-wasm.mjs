#!/usr/bin/env node
// The `vxlan-wasm` command: a thin shim over the built CLI (npm run build writes dist/).
import { main } from '../dist/cli.mjs';

process.exitCode = await main(process.argv.slice(2));
