// The test page's script: the library and the probe, on `window` for the driver to call.
import * as lib from 'vxlan-wasm';
import { runProbe, type ProbeInput } from './probe';

(window as unknown as { probe: (backend: lib.BackendName, input: ProbeInput) => unknown }).probe = (backend, input) =>
  runProbe(lib as unknown as Parameters<typeof runProbe>[0], backend, input);
(window as unknown as { ready: () => Promise<string> }).ready = () => lib.ready();
