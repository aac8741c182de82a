/**
 * Whether a command's forwarder sends super-frames whole (tunnel GSO), decided the same way for
 * `forward`, `agent --network` and `agent --docker/--cni`: declined by the user (--no-tunnel-gso),
 * else asked of this host (probeTunnelGso); where it cannot run, the default goes on without it and
 * says why, while insisting (--tunnel-gso) is an error. The note is what the log line says.
 */
import { probeTunnelGso, type TunnelGsoDecision, type TunnelGsoProbeOptions } from '../forwarder/underlay/tunnel-gso-probe';

export interface TunnelGsoChoice {
  use: boolean;
  /** VXLAN taken in whole too (the tc ingress filter); false when whole out only. */
  ingress: boolean;
  /** For the log line: "on, both ways: …", "off: …; VXLAN goes through the UDP socket …". */
  note: string;
}

/** `mode`: false declined, true insisted on, 'auto' where this host allows it. Throws (code TUNNEL_GSO_UNAVAILABLE) when insisted on and impossible. */
export function chooseTunnelGso(
  mode: boolean | 'auto', options: TunnelGsoProbeOptions, probe: (options: TunnelGsoProbeOptions) => TunnelGsoDecision = probeTunnelGso,
): TunnelGsoChoice {
  if (mode === false) return { use: false, ingress: false, note: 'off (--no-tunnel-gso)' };
  const decision = probe(options);
  if (!decision.usable) {
    if (mode === true) throw Object.assign(new Error(`--tunnel-gso cannot run here: ${decision.reason}`), { code: 'TUNNEL_GSO_UNAVAILABLE' });
    return { use: false, ingress: false, note: `off: ${decision.reason}; VXLAN goes through the UDP socket (--tunnel-gso to insist, --no-tunnel-gso to silence this)` };
  }
  return { use: true, ingress: decision.ingress, note: `${decision.ingress ? 'on, both ways' : 'on, whole out only'}: ${decision.reason}` };
}
