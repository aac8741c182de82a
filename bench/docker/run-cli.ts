// The `vxlan-wasm` command from the sources (src/cli/main.ts through tsx), for bench/docker-overlay.ts
// --source src: the agent as the working tree has it, without a build of dist/.
//   node --import tsx bench/docker/run-cli.ts agent --docker …
import { main } from '../../src/cli/main';

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    console.error(error);
    process.exitCode = 1;
  },
);
