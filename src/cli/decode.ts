/**
 * `vxlan-wasm decode`: print the layers of every VXLAN frame in a pcap/pcapng capture, read as a
 * stream (record by record, in bounded memory), through the package's public API only.
 */
import {
  DecodeError, decapsulate, decapsulateLax, formatMac, LinkType, openPcapStream,
  type DecapOptions, type VxlanFrame,
} from '../index';

export interface DecodeCommandOptions {
  json: boolean;
  /** decapsulateLax instead of decapsulate. */
  lax: boolean;
  verifyChecksums: boolean;
  /** Checked by the caller: 1 to 4 ports in 1..65535; default the library's. */
  ports?: number[];
  allowZeroUdpChecksumIpv6: boolean;
  gbp: boolean;
  write: (line: string) => void;
}

function summarize(frame: VxlanFrame): string {
  const { ethernet, ip, udp, vxlan, inner } = frame;
  const vlans = ethernet.vlans.map((tag) => ` vlan ${tag.vid}`).join('');
  const gbp = vxlan.gbp ? ` gbp group ${vxlan.gbp.group}${vxlan.gbp.dontLearn ? ' D' : ''}${vxlan.gbp.policyApplied ? ' A' : ''}` : '';
  const innerMacs = inner.length >= 12 ? `${formatMac(inner, 6)} > ${formatMac(inner, 0)}` : '';
  return `${ethernet.source} > ${ethernet.destination}${vlans} IPv${ip.version} ${ip.source}:${udp.sourcePort} > ` +
    `${ip.destination}:${udp.destinationPort} VXLAN vni ${vxlan.vni}${gbp} inner ${inner.length} B ${innerMacs}`;
}

/** Resolves to the exit code: 0 when every frame decoded, 1 when any failed. */
export async function decodeCommand(source: AsyncIterable<Uint8Array>, options: DecodeCommandOptions): Promise<number> {
  const decapOptions: DecapOptions = {
    verifyChecksums: options.verifyChecksums,
    ports: options.ports,
    allowZeroUdpChecksumIpv6: options.allowZeroUdpChecksumIpv6,
    gbp: options.gbp,
  };
  const decode = options.lax ? decapsulateLax : decapsulate;
  const capture = await openPcapStream(source);
  let failed = 0;
  let number = 0;
  for await (const packet of capture) {
    number++;
    if (packet.linkType !== LinkType.ETHERNET) {
      failed++;
      options.write(options.json
        ? JSON.stringify({ frame: number, error: { code: 'UNSUPPORTED_LINK_TYPE', linkType: packet.linkType } })
        : `${number} link type ${packet.linkType} is not Ethernet`);
      continue;
    }
    try {
      const frame = decode(packet.data, decapOptions);
      options.write(options.json ? JSON.stringify({ frame: number, ...toJson(frame) }) : `${number} ${summarize(frame)}`);
    } catch (error) {
      if (!(error instanceof DecodeError)) throw error;
      failed++;
      options.write(options.json
        ? JSON.stringify({ frame: number, error: { code: error.code, layer: error.layer, offset: error.offset } })
        : `${number} ${error.code} (${error.layer} at byte ${error.offset})`);
    }
  }
  return failed === 0 ? 0 : 1;
}

function hex(bytes: Uint8Array): string {
  return Array.from(bytes, (byte) => byte.toString(16).padStart(2, '0')).join('');
}

function toJson(frame: VxlanFrame): object {
  const ip = frame.ip.version === 4 ? { ...frame.ip, options: hex(frame.ip.options) } : frame.ip;
  return { ethernet: frame.ethernet, ip, udp: frame.udp, vxlan: frame.vxlan, inner: hex(frame.inner) };
}
