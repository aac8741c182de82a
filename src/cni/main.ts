/**
 * The `vxlan-wasm-cni` executable's entry (bin/vxlan-wasm-cni.mjs → dist/cni.mjs): the container
 * runtime runs it with CNI_* in the environment and the network configuration on stdin, and reads
 * one JSON object from stdout. Exit 0 on success, 1 with the spec's error JSON otherwise.
 */
import { runPlugin } from './plugin';

function readStdin(): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    process.stdin.on('data', (chunk: Buffer) => chunks.push(chunk));
    process.stdin.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    process.stdin.on('error', reject);
  });
}

export async function main(): Promise<number> {
  // Run by hand with a terminal on stdin: say what this is instead of waiting for input.
  if (process.stdin.isTTY === true && process.env.CNI_COMMAND === undefined) {
    process.stderr.write('vxlan-wasm-cni: a CNI plugin (type "vxlan-wasm"); a container runtime runs it with CNI_COMMAND and the network configuration on stdin. See README, "Containers with podman / CNI".\n');
    return 1;
  }
  const outcome = await runPlugin({ env: process.env, stdin: await readStdin() });
  process.stdout.write(outcome.stdout);
  return outcome.exitCode;
}
