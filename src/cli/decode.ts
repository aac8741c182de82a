/** `vxlan-wasm decode`: print the layers of every VXLAN frame in a pcap/pcapng capture. */
import { decapsulate, decapsulateLax } from '../api';
import { DecodeError } from '../errors';
import type { DecapOptions, VxlanFrame } from '../types';
import { readPcap } from '../pcap/index';
import { formatMac } from '../wire/address';

export interface DecodeCommandOptions {
  json: boolean;
  decap: DecapOptions;
  write: (line: string) => void;
}

const LINKTYPE_ETHERNET = 1;

function summarize(frame: VxlanFrame): string {
  const { ethernet, ip, udp, vxlan, inner } = frame;
  const vlans = ethernet.vlans.map((tag) => ` vlan ${tag.vid}`).join('');
  const gbp = vxlan.gbp ? ` gbp group ${vxlan.gbp.group}${vxlan.gbp.dontLearn ? ' D' : ''}${vxlan.gbp.policyApplied ? ' A' : ''}` : '';
  const innerMacs = inner.length >= 12 ? `${formatMac(inner, 6)} > ${formatMac(inner, 0)}` : '';
  return `${ethernet.source} > ${ethernet.destination}${vlans} IPv${ip.version} ${ip.source}:${udp.sourcePort} > ` +
    `${ip.destination}:${udp.destinationPort} VXLAN vni ${vxlan.vni}${gbp} inner ${inner.length} B ${innerMacs}`;
}

/** Returns the exit code: 0 when every frame decoded, 1 when any failed. */
export function decodeCommand(capture: Uint8Array, options: DecodeCommandOptions): number {
  const file = readPcap(capture);
  const decode = options.decap.strict === false ? decapsulateLax : decapsulate;
  let failed = 0;
  file.packets.forEach((packet, index) => {
    const number = index + 1;
    if (packet.linkType !== LINKTYPE_ETHERNET) {
      failed++;
      options.write(options.json
        ? JSON.stringify({ frame: number, error: { code: 'UNSUPPORTED_LINK_TYPE', linkType: packet.linkType } })
        : `${number} link type ${packet.linkType} is not Ethernet`);
      return;
    }
    try {
      const frame = decode(packet.data, options.decap);
      options.write(options.json ? JSON.stringify({ frame: number, ...toJson(frame) }) : `${number} ${summarize(frame)}`);
    } catch (error) {
      if (!(error instanceof DecodeError)) throw error;
      failed++;
      options.write(options.json
        ? JSON.stringify({ frame: number, error: { code: error.code, layer: error.layer, offset: error.offset } })
        : `${number} ${error.code} (${error.layer} at byte ${error.offset})`);
    }
  });
  return failed === 0 ? 0 : 1;
}

function hex(bytes: Uint8Array): string {
  return Array.from(bytes, (byte) => byte.toString(16).padStart(2, '0')).join('');
}

function toJson(frame: VxlanFrame): object {
  const ip = frame.ip.version === 4 ? { ...frame.ip, options: hex(frame.ip.options) } : frame.ip;
  return { ethernet: frame.ethernet, ip, udp: frame.udp, vxlan: frame.vxlan, inner: hex(frame.inner) };
}
