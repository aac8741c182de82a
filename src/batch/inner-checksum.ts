/**
 * Inner TCP/UDP checksums on a frame held in JavaScript memory (copied into the active
 * backend's workspace): verify one, or complete a partial one as a TAP with checksum offload
 * hands it over. For frames already in a PacketBatch use PacketBatch.innerChecksum and
 * setPartialChecksum, which work in place.
 */
import { checkBytes } from '../wire/fields';
import { HEADROOM, MAX_FRAME_LEN, workspace } from '../backend';
import { innerChecksumState, type InnerChecksumState } from './packet-batch';

function checkFrame(frame: unknown): asserts frame is Uint8Array {
  checkBytes(frame, 'frame');
  if (frame.length > MAX_FRAME_LEN) throw new RangeError(`frame of ${frame.length} bytes is longer than ${MAX_FRAME_LEN}`);
}

/**
 * The state of the inner Ethernet frame's TCP/UDP checksum: 'valid', 'bad', 'none' (a UDP
 * checksum of zero), or 'unsupported' (not an unfragmented TCP/UDP segment right after an
 * IPv4/IPv6 header, or truncated).
 */
export function verifyInnerChecksum(frame: Uint8Array): InnerChecksumState {
  checkFrame(frame);
  const { kernels, scratch } = workspace();
  kernels.bytes.set(frame, scratch + HEADROOM);
  return innerChecksumState(kernels.verifyInnerChecksum(scratch + HEADROOM, frame.length));
}

/**
 * Complete a partial checksum in place (Linux CHECKSUM_PARTIAL, virtio-net NEEDS_CSUM): the
 * field at csumStart + csumOffset holds the pseudo-header sum; the checksum of the bytes from
 * csumStart to the end is stored there (a zero as 0xffff).
 */
export function completeInnerChecksum(frame: Uint8Array, csumStart: number, csumOffset: number): void {
  checkFrame(frame);
  if (!Number.isInteger(csumStart) || !Number.isInteger(csumOffset)) throw new TypeError('csumStart and csumOffset must be integers');
  const { kernels, scratch } = workspace();
  const at = scratch + HEADROOM;
  kernels.bytes.set(frame, at);
  if (kernels.completeInnerChecksum(at, frame.length, csumStart, csumOffset) !== 0) {
    throw new RangeError(`the checksum field (csumStart ${csumStart} + csumOffset ${csumOffset}) is not inside the ${frame.length}-byte frame`);
  }
  const field = csumStart + csumOffset;
  frame[field] = kernels.bytes[at + field];
  frame[field + 1] = kernels.bytes[at + field + 1];
}
