// `vxlan-wasm network …` from the sources (networkCommand), for tests that run it as a process
// (inside a namespace, or to see its exit code and output as a user would).
import { networkCommand } from '../../src/cli/network';

process.exitCode = await networkCommand(process.argv.slice(2));
