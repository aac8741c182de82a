// The CNI plugin from the sources (for the podman e2e test: no build needed), as the runtime runs
// bin/vxlan-wasm-cni.mjs: CNI_* in the environment, the configuration on stdin, JSON on stdout.
import { main } from '../../src/cni/main';

process.exitCode = await main();
