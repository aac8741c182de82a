// What bench/docker-overlay.ts measures through: a container network spanning the Docker hosts of
// test/helpers/docker-hosts.ts. A contender sets its network up on every host, names it, says what
// else a container on it needs (`docker run` arguments), and takes it all down again. Adding one
// (vxlan-wasm's driver: bench/docker/vxlan-wasm.ts) is one more entry in CONTENDERS.
import type { DockerHost, DockerHosts } from '../../test/helpers/docker-hosts';

export interface Contender {
  /** Short id, used on the command line (--contenders) and in the JSON. */
  readonly id: string;
  /** What the report and the chart call it. */
  readonly label: string;
  /** The network's name, the same on every host: `docker run --network NAME`. */
  readonly network: string;
  /** More `docker run` arguments for a container on this network on `host` (e.g. --dns). */
  runArgs(host: DockerHost): string[];
  /** Make the network on every host (and whatever serves it); throws with a sentence on failure. */
  setUp(lab: DockerHosts): Promise<void>;
  /** Remove what setUp made (containers on the network are the caller's); never throws. */
  tearDown(): Promise<void>;
}
