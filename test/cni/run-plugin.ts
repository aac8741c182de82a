// The CNI plugin from the sources (for the podman e2e test: no build needed), as the runtime runs
// bin/vxlan-wasm-cni.mjs: CNI_* in the environment, the configuration on stdin, JSON on stdout.
// No top-level await: uvu loads every file under test/ its pattern matches, as CommonJS.
import { main } from '../../src/cni/main';

void main().then((code) => {
  process.exitCode = code;
});
