#!/usr/bin/env node
// The `vxlan-wasm-cni` CNI plugin: a thin shim over the built plugin (npm run build writes dist/).
// Install it (or a link to it) as `vxlan-wasm` in a runtime's CNI plugin directory.
import { main } from '../dist/cni.mjs';

process.exitCode = await main();
