// `vxlan-wasm agent --docker …` from the sources (for the Docker e2e tests: no build needed),
// started on a host with spawnOnHost; exits with the command's code.
import { dockerAgentCommand } from '../../src/cli/agent-docker';

process.exitCode = await dockerAgentCommand(process.argv.slice(2));
