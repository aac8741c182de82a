// The real `vxlan-wasm forward` command from the sources (forwardCommand, as the CLI's main runs
// it), for the end-to-end tests to start inside a namespace:
//   ip netns exec NS node --import tsx test/forwarder/e2e/run-cli.ts --tap … --vni … --local … --peer …
import { forwardCommand } from '../../../src/cli/forward';

forwardCommand(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    console.error(error);
    process.exitCode = 1;
  },
);
