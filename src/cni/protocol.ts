/**
 * What the CNI plugin and the host's agent say to each other: JSON over HTTP POST on a unix socket
 * (/run/vxlan-wasm/cni.sock by default, 0600), one path per call, as the Docker plugin's socket
 * (the same PluginServer serves it). The plugin is a short-lived process run by the container
 * runtime; the agent holds the etcd lease, the bridges and the forwarder, so every change goes
 * through it and the plugin never talks to etcd.
 *
 *   POST /Cni.Add    AgentRequest                     → {result: CniResult} | {error}
 *   POST /Cni.Check  AgentRequest with prevResult     → {}                  | {error}
 *   POST /Cni.Del    AgentRequest (netns may be '')   → {}                  | {error}
 *   POST /Cni.Gc     {network, attachments: [{containerId, ifname}]} → {removed: n} | {error}
 *   POST /Cni.Status {network}                        → {}                  | {error}
 *
 * A refusal is `{error: {code, msg, details?}}` in the spec's codes, so the plugin prints it as
 * is; anything else that goes wrong in the agent comes back as PluginServer's `{Err}`.
 */
import { request } from 'node:http';
import { CNI_CODES, CniError, type CniResult } from './spec';

export type CniCall = 'Cni.Add' | 'Cni.Check' | 'Cni.Del' | 'Cni.Gc' | 'Cni.Status';

export interface AgentRequest {
  network: string;
  containerId: string;
  netns: string;
  ifname: string;
  /** The endpoint's DNS name, from CNI_ARGS (K8S_POD_NAME, which podman sets to the container's name) or ''. */
  containerName: string;
  /** Extra DNS names (runtimeConfig.aliases[network], when the runtime passes them). */
  aliases: string[];
  prevResult?: CniResult;
}

export interface AgentAttachment {
  containerId: string;
  ifname: string;
}

export type AgentAnswer = { result?: CniResult; removed?: number; error?: { code: number; msg: string; details?: string }; Err?: string };

/** How long a call may take (a first ADD joins the network: etcd, a bridge, a TAP). */
export const AGENT_TIMEOUT_MS = 60_000;

/** POST one call to the agent; every failure is a CniError the plugin prints. */
export function callAgent(socketPath: string, call: CniCall, body: object, timeoutMs = AGENT_TIMEOUT_MS): Promise<AgentAnswer> {
  const text = JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const req = request({ socketPath, path: `/${call}`, method: 'POST', headers: { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text) }, timeout: timeoutMs }, (response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('end', () => {
        let answer: unknown;
        try {
          answer = JSON.parse(Buffer.concat(chunks).toString('utf8'));
        } catch {
          reject(new CniError(CNI_CODES.IO_FAILURE, `the agent at ${socketPath} answered ${call} with something that is not JSON (HTTP ${response.statusCode})`, 'is another program listening on agentSocket?'));
          return;
        }
        if (response.statusCode !== 200 || typeof answer !== 'object' || answer === null) {
          reject(new CniError(CNI_CODES.IO_FAILURE, `the agent at ${socketPath} refused ${call} (HTTP ${response.statusCode})`, 'the agent may be older than this plugin; run the same version of vxlan-wasm for both'));
          return;
        }
        resolve(answer as AgentAnswer);
      });
      response.on('error', (error) => reject(new CniError(CNI_CODES.IO_FAILURE, `reading the agent's answer to ${call}: ${error.message}`)));
    });
    req.on('timeout', () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    req.on('error', (error: NodeJS.ErrnoException) => {
      if (error.code === 'ENOENT' || error.code === 'ECONNREFUSED') {
        reject(new CniError(CNI_CODES.TRY_AGAIN_LATER, `the vxlan-wasm agent is not running on this host (nothing listens on ${socketPath})`, 'start it with `vxlan-wasm agent --cni --local ADDR --etcd URL` (or set agentSocket in the network configuration to where it listens), then try again'));
      } else if (error.code === 'EACCES') {
        reject(new CniError(CNI_CODES.IO_FAILURE, `no permission to use the agent's socket ${socketPath}`, 'the socket is root\'s (0600): run the container runtime as root'));
      } else {
        reject(new CniError(CNI_CODES.TRY_AGAIN_LATER, `the agent at ${socketPath} did not answer ${call}: ${error.message}`, 'check the agent\'s log, then try again'));
      }
    });
    req.end(text);
  });
}

/** An answer's refusal as a CniError (undefined when it is no refusal). */
export function answerError(answer: AgentAnswer): CniError | undefined {
  if (answer.error !== undefined) return new CniError(answer.error.code, answer.error.msg, answer.error.details ?? '');
  if (answer.Err !== undefined) return new CniError(CNI_CODES.AGENT_FAILED, answer.Err, 'see the agent\'s log');
  return undefined;
}
