/**
 * Errors raised by the decoders, and the closed set of status codes shared with the WASM kernels.
 *
 * The numbers are the ABI between `assembly/status.ts` and TypeScript: a kernel returns one of
 * them, and `DecodeError` carries its name. `test/abi.test.ts` checks both tables agree.
 */

/** Status code → name. 0 is success; every other value is a reason a frame was rejected. */
export const DecodeStatus = {
  OK: 0,
  /** A header does not fit in the bytes that are left. `offset` is where that header starts. */
  TRUNCATED: 1,
  /** The EtherType (after any VLAN tags) is neither IPv4 (0x0800) nor IPv6 (0x86dd). */
  NOT_IPV4_OR_IPV6: 2,
  /** The IP version nibble does not match the EtherType. */
  BAD_IP_VERSION: 3,
  /** IPv4 IHL below 5 (a header shorter than 20 bytes). */
  BAD_IHL: 4,
  /** The IPv4 header checksum does not verify. */
  BAD_IPV4_CHECKSUM: 5,
  /** An IP total/payload length or UDP length disagrees with the bytes present. */
  LENGTH_MISMATCH: 6,
  /** An IPv4 fragment (MF set or non-zero offset) or an IPv6 Fragment header. */
  FRAGMENTED: 7,
  /** The upper-layer protocol is not UDP (17). */
  NOT_UDP: 8,
  /** The UDP destination port is not one of the accepted VXLAN ports. */
  NOT_VXLAN_PORT: 9,
  /** The UDP checksum does not verify. */
  BAD_UDP_CHECKSUM: 10,
  /** A zero UDP checksum over IPv6, which RFC 8200 forbids unless explicitly allowed (RFC 6935). */
  ZERO_UDP_CHECKSUM_IPV6: 11,
  /** The VXLAN I flag is clear: the VNI is not valid (RFC 7348 §5). */
  VXLAN_I_FLAG_MISSING: 12,
  /** Strict mode: a VXLAN flag bit or reserved field other than I (and GBP when enabled) is set. */
  VXLAN_RESERVED_BITS: 13,
  /** The VNI is not the one the caller expects. */
  VNI_MISMATCH: 14,
  /** More 802.1Q/802.1ad tags than the decoder walks (8). */
  TOO_MANY_VLAN_TAGS: 15,
  /** An IPv6 extension header chain that is longer than the packet or than the decoder walks (8). */
  BAD_IPV6_EXTENSION: 16,
} as const;

export type DecodeErrorCode = Exclude<keyof typeof DecodeStatus, 'OK'>;

const codeNames: string[] = [];
for (const [name, value] of Object.entries(DecodeStatus)) codeNames[value] = name;

/** The name of a status code (`'OK'`, `'TRUNCATED'`, …), or `'UNKNOWN_<n>'` for a value outside the set. */
export function statusName(status: number): string {
  return codeNames[status] ?? `UNKNOWN_${status}`;
}

/** Which header a status refers to. The numbers are shared with the WASM kernels. */
export const Layer = {
  ethernet: 0,
  ipv4: 1,
  ipv6: 2,
  udp: 3,
  vxlan: 4,
  inner: 5,
} as const;

export type LayerName = keyof typeof Layer;

const layerNames: LayerName[] = ['ethernet', 'ipv4', 'ipv6', 'udp', 'vxlan', 'inner'];

export function layerName(layer: number): LayerName {
  return layerNames[layer] ?? 'ethernet';
}

const messages: Record<DecodeErrorCode, string> = {
  TRUNCATED: 'header truncated',
  NOT_IPV4_OR_IPV6: 'EtherType is neither IPv4 nor IPv6',
  BAD_IP_VERSION: 'IP version does not match the EtherType',
  BAD_IHL: 'IPv4 IHL is below 5',
  BAD_IPV4_CHECKSUM: 'IPv4 header checksum does not verify',
  LENGTH_MISMATCH: 'length field disagrees with the bytes present',
  FRAGMENTED: 'IP fragment',
  NOT_UDP: 'upper-layer protocol is not UDP',
  NOT_VXLAN_PORT: 'UDP destination port is not a VXLAN port',
  BAD_UDP_CHECKSUM: 'UDP checksum does not verify',
  ZERO_UDP_CHECKSUM_IPV6: 'zero UDP checksum over IPv6',
  VXLAN_I_FLAG_MISSING: 'VXLAN I flag is not set',
  VXLAN_RESERVED_BITS: 'VXLAN reserved bits are set',
  VNI_MISMATCH: 'VNI is not the expected one',
  TOO_MANY_VLAN_TAGS: 'too many VLAN tags',
  BAD_IPV6_EXTENSION: 'IPv6 extension header chain is malformed',
};

/**
 * A frame could not be decoded. `code` is from a closed set; `offset` is the byte offset at fault.
 *
 * A verdict on data, not a fault in the program: it carries no stack trace (`stack` is only its
 * first line). Capturing one cost several microseconds per error, more than decoding the frame,
 * and a capture full of broken frames is exactly where a program makes millions of these.
 */
export class DecodeError extends Error {
  declare readonly code: DecodeErrorCode;
  declare readonly layer: LayerName;
  declare readonly offset: number;

  constructor(code: DecodeErrorCode, layer: LayerName, offset: number, detail?: string) {
    // Error's constructor captures the stack (up to Error.stackTraceLimit frames): capture none.
    const stackTraceLimit = Error.stackTraceLimit;
    Error.stackTraceLimit = 0;
    try {
      super(`${code}: ${messages[code]} (${layer} at byte ${offset})${detail ? `: ${detail}` : ''}`);
    } finally {
      Error.stackTraceLimit = stackTraceLimit;
    }
    this.code = code;
    this.layer = layer;
    this.offset = offset;
  }

  /** Build the error a kernel reported as (status, layer, offset). */
  static fromStatus(status: number, layer: number, offset: number): DecodeError {
    const name = statusName(status);
    if (!(name in messages)) throw new RangeError(`status ${status} is not an error status`);
    return new DecodeError(name as DecodeErrorCode, layerName(layer), offset);
  }
}

// On the prototype, so that the stack's first line (made when the error is) names it too.
Object.defineProperty(DecodeError.prototype, 'name', { value: 'DecodeError', writable: true, configurable: true });
