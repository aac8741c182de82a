/**
 * The CNI plugin's logic, without process globals: an environment and stdin in, what to print and
 * the exit code out. bin/vxlan-wasm-cni.mjs (through src/cni/main.ts) feeds it the real ones.
 *
 *   VERSION  answered here, no agent: the versions this plugin speaks
 *   ADD      the agent makes the endpoint (address from etcd, veth into CNI_NETNS); printed: the
 *            previous plugin's result with ours chained after it
 *   CHECK    the agent checks the endpoint and the interface against prevResult; prints nothing
 *   DEL      the agent undoes what ADD did; success for anything already gone
 *   GC       (1.1) the agent removes this network's attachments on this host that are not in
 *            cni.dev/valid-attachments
 *   STATUS   (1.1) success when the agent runs and has etcd; else code 50
 *
 * A second ADD for the same container and interface without a DEL between is something the spec
 * forbids the runtime to do (section "ADD": "A runtime must not call ADD twice (without an
 * intervening DEL) for the same (network name, container id, name of the interface inside the
 * container)"), so the agent refuses it (code 101) rather than hand back an interface the
 * container may no longer have.
 */
import { answerError, callAgent, type AgentAnswer, type AgentAttachment, type AgentRequest, type CniCall } from './protocol';
import {
  CNI_CODES, CniError, chainResult, parseConfig, readEnvironment, PLUGIN_VERSION, SUPPORTED_VERSIONS,
  type CniConfig, type CniEnvironment,
} from './spec';

export interface PluginOutcome {
  /** What to print on stdout (a result, a version answer, an error; '' for a silent success). */
  stdout: string;
  exitCode: 0 | 1;
}

export interface PluginIo {
  env: NodeJS.ProcessEnv;
  stdin: string;
  /** The agent call (tests pass a fake; default: HTTP on the configured unix socket). */
  call?: (socketPath: string, call: CniCall, body: object) => Promise<AgentAnswer>;
}

const versionOf = (stdin: string): string => {
  try {
    const version = (JSON.parse(stdin) as { cniVersion?: unknown }).cniVersion;
    return typeof version === 'string' && (SUPPORTED_VERSIONS as readonly string[]).includes(version) ? version : '1.0.0';
  } catch {
    return '1.0.0';
  }
};

export async function runPlugin(io: PluginIo): Promise<PluginOutcome> {
  const call = io.call ?? callAgent;
  // Errors are printed in the version the configuration asked for when it is one we speak.
  const errorVersion = versionOf(io.stdin);
  try {
    const env = readEnvironment(io.env);
    const config = parseConfig(io.stdin, env.command);
    switch (env.command) {
      case 'VERSION':
        return ok({ cniVersion: (SUPPORTED_VERSIONS as readonly string[]).includes(config.cniVersion) ? config.cniVersion : PLUGIN_VERSION, supportedVersions: SUPPORTED_VERSIONS });
      case 'ADD': {
        const answer = await ask(call, config, 'Cni.Add', request(env, config));
        if (answer.result === undefined) throw new CniError(CNI_CODES.AGENT_FAILED, 'the agent answered ADD without a result', 'the agent may be another version than this plugin');
        return ok(chainResult(answer.result, config.prevResult, config.cniVersion));
      }
      case 'CHECK':
        await ask(call, config, 'Cni.Check', request(env, config));
        return { stdout: '', exitCode: 0 };
      case 'DEL':
        await ask(call, config, 'Cni.Del', request(env, config));
        return { stdout: '', exitCode: 0 };
      case 'GC': {
        await ask(call, config, 'Cni.Gc', { network: config.network, attachments: validAttachments(config) });
        return { stdout: '', exitCode: 0 };
      }
      case 'STATUS':
        try {
          await ask(call, config, 'Cni.Status', { network: config.network });
        } catch (error) {
          // 1.1's STATUS says "cannot serve ADD" with 50, whatever the reason.
          if (error instanceof CniError && error.code === CNI_CODES.TRY_AGAIN_LATER) throw new CniError(CNI_CODES.PLUGIN_NOT_AVAILABLE, error.message, error.details);
          throw error;
        }
        return { stdout: '', exitCode: 0 };
    }
  } catch (error) {
    const refusal = error instanceof CniError ? error : new CniError(CNI_CODES.AGENT_FAILED, `internal error: ${(error as Error).message ?? String(error)}`, 'a bug in the plugin; please report it with this message');
    return { stdout: `${JSON.stringify(refusal.toJson(errorVersion))}\n`, exitCode: 1 };
  }
}

const ok = (value: object): PluginOutcome => ({ stdout: `${JSON.stringify(value)}\n`, exitCode: 0 });

async function ask(call: NonNullable<PluginIo['call']>, config: CniConfig, what: CniCall, body: object): Promise<AgentAnswer> {
  const answer = await call(config.agentSocket, what, body);
  const refusal = answerError(answer);
  if (refusal !== undefined) throw refusal;
  return answer;
}

function request(env: CniEnvironment, config: CniConfig): AgentRequest {
  // podman (CNI backend) passes K8S_POD_NAME=<container name>, as Kubernetes runtimes pass the pod's.
  const containerName = env.args.K8S_POD_NAME ?? '';
  const aliasTable = config.runtimeConfig.aliases;
  let aliases: string[] = [];
  if (typeof aliasTable === 'object' && aliasTable !== null) {
    const mine = (aliasTable as Record<string, unknown>)[config.name];
    if (Array.isArray(mine)) aliases = mine.filter((alias): alias is string => typeof alias === 'string');
  }
  return { network: config.network, containerId: env.containerId, netns: env.netns, ifname: env.ifname, containerName, aliases, prevResult: config.prevResult };
}

function validAttachments(config: CniConfig): AgentAttachment[] {
  const list = config.raw['cni.dev/valid-attachments'] ?? [];
  if (!Array.isArray(list)) throw new CniError(CNI_CODES.INVALID_CONFIG, 'cni.dev/valid-attachments is not a list');
  return list.map((item: unknown) => {
    const { containerID, ifname } = (item ?? {}) as { containerID?: unknown; ifname?: unknown };
    if (typeof containerID !== 'string' || typeof ifname !== 'string') throw new CniError(CNI_CODES.INVALID_CONFIG, `cni.dev/valid-attachments has ${JSON.stringify(item)}, not {containerID, ifname}`);
    return { containerId: containerID, ifname };
  });
}
