/**
 * The same questions asked of the library in Node and in the browser: the test compares the two
 * answers. Everything goes in and comes out as JSON-able values (hex text for bytes), so the
 * page can return it through the browser driver unchanged.
 */
import type * as Library from '../../src/index';

export interface ProbeInput {
  /** Bytes to checksum, hex. */
  data: string;
  /** An inner Ethernet frame, hex. */
  inner: string;
  tunnels: Library.TunnelOptions[];
  /** A capture, hex. */
  pcap: string;
}

const toHex = (bytes: Uint8Array) => Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
const fromHex = (text: string) => new Uint8Array((text.match(/../g) ?? []).map((pair) => parseInt(pair, 16)));

/** A decoded frame as comparable JSON: every header, byte arrays as hex. */
function decoded(frame: Library.VxlanFrame): unknown {
  return JSON.parse(JSON.stringify(frame, (_key, value: unknown) => (value instanceof Uint8Array ? toHex(value) : value)));
}

function outcome(lib: typeof Library, data: Uint8Array): unknown {
  try {
    return { frame: decoded(lib.decapsulate(data)) };
  } catch (error) {
    if (!(error instanceof lib.DecodeError)) throw error;
    return { error: { code: error.code, layer: error.layer, offset: error.offset } };
  }
}

/**
 * Run every question on `backend`. The outer IPv4 identification (and so the header checksum) is
 * zeroed in each answer: it counts per call, and Node has made other frames before.
 */
export function runProbe(lib: typeof Library, backend: Library.BackendName, input: ProbeInput): unknown {
  lib.useBackend(backend);
  const data = fromHex(input.data);
  const inner = fromHex(input.inner);
  const encapsulated = input.tunnels.map((tunnel) => {
    const frame = lib.encapsulate(inner, tunnel);
    const into = new Uint8Array(frame.length + 4);
    const written = lib.encapsulateInto(inner, tunnel, into, 4);
    const l3 = tunnel.vlan ? 18 : 14;
    const ipv4 = !tunnel.source.ip.includes(':');
    const headerValid = ipv4 ? lib.checksum(frame.subarray(l3, l3 + 20)) === 0 : true;
    const decodedFrame = outcome(lib, frame) as { frame?: { ip: { identification?: number; checksum?: number } } };
    if (ipv4 && decodedFrame.frame !== undefined) Object.assign(decodedFrame.frame.ip, { identification: 0, checksum: 0 });
    for (const bytes of [frame, into.subarray(4)]) if (ipv4) bytes.fill(0, l3 + 4, l3 + 6).fill(0, l3 + 10, l3 + 12);
    return { frame: toHex(frame), into: toHex(into.subarray(4)), written, headerValid, decoded: decodedFrame };
  });
  const corrupted = lib.encapsulate(inner, input.tunnels[0]);
  corrupted[corrupted.length - 1] ^= 1;
  const capture = lib.readPcap(fromHex(input.pcap));
  return {
    backend: lib.backendName(),
    checksum: lib.checksum(data),
    onesComplementSum: lib.onesComplementSum(data, 0x1234),
    encapsulated,
    corrupted: outcome(lib, corrupted),
    pcap: {
      format: capture.format,
      linkType: capture.linkType,
      packets: capture.packets.map((packet) => ({ data: toHex(packet.data), timestampNs: String(packet.timestampNs), outcome: outcome(lib, packet.data) })),
    },
  };
}
