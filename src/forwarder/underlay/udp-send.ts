/**
 * The UDP underlay's send path: ONE sendmmsg() per SEND_CAPACITY datagrams, on the caller's
 * thread, with iovecs pointing straight into the batch's memory (its address is taken per call:
 * WASM memory moves when it grows) and msg_name pointing at the destination's sockaddr (the
 * SourceTable's, built once per endpoint). The mmsghdr and iovec arrays are built once; only a
 * few words per datagram are written per call.
 *
 * UDP GSO: a run of consecutive datagrams to one destination with one length (the last may be
 * shorter), up to GSO_MAX_SEGMENTS and GSO_MAX_BYTES, is ONE message whose iovecs point at each
 * datagram and whose UDP_SEGMENT control message gives the length. Where the kernel refuses it
 * (EIO, EINVAL, ENOPROTOOPT, EOPNOTSUPP) the message goes again as plain datagrams and the
 * refusal is remembered (see gsoRefused), so it is not retried per batch.
 */
import type { PacketBatch } from '../../batch/packet-batch';
import { datagramLength, datagramStart, type UnderlayCounters } from '../contracts';
import * as C from '../io/libc';
import type { UdpOffloadCounters } from './udp-counters';

/** Datagrams one sendmmsg() call carries (a larger transmit makes more calls). */
export const SEND_CAPACITY = 256;
/** Datagrams in one GSO message: the kernel's UDP_MAX_SEGMENTS is 64 on older kernels (128 later). */
export const GSO_MAX_SEGMENTS = 64;
/** Bytes in one GSO message: the largest UDP payload over IPv4 (65535 - 20 - 8). */
export const GSO_MAX_BYTES = 65507;

/**
 * A send in progress, one object refilled per call: the messages prepare() made in the arena and
 * where it stopped in `slots`; where flush() wants the send resumed (a GSO message refused: its
 * first datagram, to go again as plain datagrams), or -1.
 */
interface SendProgress {
  messages: number;
  end: number;
  resumeAt: number;
}

export class UdpSender {
  /** UDP GSO is in use (false when turned off, unsupported, or refused by the kernel at run time). */
  gsoOn: boolean;
  /** Runs of segments longer than this go as plain datagrams (lowered when the kernel says EINVAL). */
  private gsoSegmentLimit = GSO_MAX_BYTES;

  // The send arena, in memory that never moves: SEND_CAPACITY mmsghdrs, as many iovecs, as many
  // UDP_SEGMENT control messages (one per mmsghdr, its msg_control, given a length only when used).
  private readonly arenaWords: Uint32Array;
  private readonly arenaAddress: number;
  /** Per message of the send being made: its datagrams, and the position in `slots` of its first. */
  private readonly messageDatagrams = new Int32Array(SEND_CAPACITY);
  private readonly messageStart = new Int32Array(SEND_CAPACITY);
  private readonly progress: SendProgress = { messages: 0, end: 0, resumeAt: -1 };

  constructor(
    private readonly fd: number,
    private readonly sockaddrLength: number,
    gso: boolean,
    /** The destination sockaddr's address of an endpoint id, or 0 (none). */
    private readonly endpointAddress: readonly number[],
    private readonly counters: UnderlayCounters,
    private readonly offloadCounters: UdpOffloadCounters,
    private readonly onNotice: ((message: string) => void) | undefined,
  ) {
    this.gsoOn = gso;
    const arena = new SharedArrayBuffer(SEND_CAPACITY * (C.MMSGHDR_SIZE + C.IOVEC_SIZE + C.CMSG_SPACE_INT));
    this.arenaWords = new Uint32Array(arena);
    this.arenaAddress = C.addressOf(new Uint8Array(arena));
    const iovs = SEND_CAPACITY * C.MMSGHDR_SIZE;
    const cmsgs = iovs + SEND_CAPACITY * C.IOVEC_SIZE;
    for (let k = 0; k < SEND_CAPACITY; k++) {
      const m = k * C.MMSGHDR_SIZE;
      C.writePointer(this.arenaWords, m + C.MSG_IOV, this.arenaAddress + iovs + k * C.IOVEC_SIZE);
      C.writePointer(this.arenaWords, m + C.MSG_IOVLEN, 1);
      // Each message's UDP_SEGMENT cmsg, fixed but for the u16 size; msg_controllen 0 leaves it unused.
      const cm = cmsgs + k * C.CMSG_SPACE_INT;
      C.writePointer(this.arenaWords, m + C.MSG_CONTROL, this.arenaAddress + cm);
      C.writePointer(this.arenaWords, cm + C.CMSG_LEN_OFFSET, C.CMSG_DATA + 2);
      this.arenaWords[(cm + C.CMSG_LEVEL) >>> 2] = C.SOL_UDP;
      this.arenaWords[(cm + C.CMSG_TYPE) >>> 2] = C.UDP_SEGMENT;
    }
  }

  /** Send the datagrams of `slots[0..count)` to `destinations`; returns the datagrams the kernel took (others are counted). */
  transmit(batch: PacketBatch, slots: Int32Array, destinations: Int32Array, count: number): number {
    // Per call, not per datagram: WASM memory moves when it grows.
    const base = C.addressOf(batch.bytes);
    const progress = this.progress;
    let taken = 0;
    let n = 0;
    // Positions below this were looked at already (a send resumed after a GSO refusal goes over
    // some again): their missing endpoints are counted once.
    let seen = 0;
    while (n < count) {
      this.prepare(batch, base, slots, destinations, n, count, seen, progress);
      if (progress.end > seen) seen = progress.end;
      n = progress.end;
      if (progress.messages === 0) continue;
      taken += this.flush(progress);
      if (progress.resumeAt >= 0) n = progress.resumeAt;
    }
    this.counters.sent += taken;
    return taken;
  }

  /**
   * Fill the arena with messages for positions from..count of `slots` (as many as SEND_CAPACITY
   * iovecs hold), noted in `into`. With GSO, a run of datagrams to one destination of one length (the
   * last may be shorter) becomes one message of several iovecs.
   */
  private prepare(batch: PacketBatch, base: number, slots: Int32Array, destinations: Int32Array, from: number, count: number, seen: number, into: SendProgress): void {
    const words = this.arenaWords;
    const iovs = SEND_CAPACITY * C.MMSGHDR_SIZE;
    const nameLength = this.sockaddrLength;
    const gso = this.gsoOn;
    const segmentLimit = this.gsoSegmentLimit;
    let k = 0; // messages
    let v = 0; // iovecs
    let runName = 0;
    let runSegment = 0;
    let runBytes = 0;
    let runOpen = false; // the current message may take more datagrams
    let n = from;
    for (; n < count && v < SEND_CAPACITY; n++) {
      const i = slots[n];
      const name = this.endpointAddress[destinations[n]];
      if (!name) {
        if (n >= seen) this.counters.sendErrors++;
        continue;
      }
      const length = datagramLength(batch, i);
      if (runOpen && name === runName && length <= runSegment && runBytes + length <= GSO_MAX_BYTES) {
        const m = k - 1;
        this.messageDatagrams[m]++;
        runBytes += length;
        // A shorter datagram ends the run, as does the segment cap.
        if (length < runSegment || this.messageDatagrams[m] === GSO_MAX_SEGMENTS) runOpen = false;
      } else {
        if (k > 0) this.closeMessage(k - 1, runSegment);
        const m = k * C.MMSGHDR_SIZE;
        C.writePointer(words, m + C.MSG_NAME, name);
        words[(m + C.MSG_NAMELEN) >>> 2] = nameLength;
        C.writePointer(words, m + C.MSG_IOV, this.arenaAddress + iovs + v * C.IOVEC_SIZE);
        this.messageDatagrams[k] = 1;
        this.messageStart[k] = n;
        k++;
        runName = name;
        runSegment = length;
        runBytes = length;
        runOpen = gso && length <= segmentLimit;
      }
      const o = iovs + v * C.IOVEC_SIZE;
      C.writePointer(words, o + C.IOV_BASE, base + datagramStart(batch, i));
      words[(o + C.IOV_LEN) >>> 2] = length;
      words[((o + C.IOV_LEN) >>> 2) + 1] = 0;
      v++;
    }
    if (k > 0) this.closeMessage(k - 1, runSegment);
    into.messages = k;
    into.end = n;
  }

  /** Message m's iovec count, and its UDP_SEGMENT cmsg when it carries more than one datagram. */
  private closeMessage(m: number, segment: number): void {
    const words = this.arenaWords;
    const at = m * C.MMSGHDR_SIZE;
    const datagrams = this.messageDatagrams[m];
    C.writePointer(words, at + C.MSG_IOVLEN, datagrams);
    if (datagrams > 1) {
      const cm = SEND_CAPACITY * (C.MMSGHDR_SIZE + C.IOVEC_SIZE) + m * C.CMSG_SPACE_INT;
      words[(cm + C.CMSG_DATA) >>> 2] = segment; // the u16, and two bytes of padding
      C.writePointer(words, at + C.MSG_CONTROLLEN, C.CMSG_SPACE_INT);
    } else {
      C.writePointer(words, at + C.MSG_CONTROLLEN, 0);
    }
  }

  /**
   * sendmmsg the messages prepared in `progress`; returns the datagrams the kernel took and counts
   * the rest. A GSO message the kernel refuses stops the flush with progress.resumeAt set to its
   * first datagram.
   */
  private flush(progress: SendProgress): number {
    const n = progress.messages;
    progress.resumeAt = -1;
    const libc = C.libc();
    let done = 0;
    let sent = 0;
    while (done < n) {
      const r = libc.sendmmsgAt(this.fd, this.arenaAddress + done * C.MMSGHDR_SIZE, n - done, 0);
      if (r > 0) {
        for (let m = done; m < done + r; m++) {
          const datagrams = this.messageDatagrams[m];
          sent += datagrams;
          if (datagrams > 1) {
            this.offloadCounters.gsoMessages++;
            this.offloadCounters.gsoDatagrams += datagrams;
          }
        }
        done += r;
        continue;
      }
      const code = C.errno();
      if (code === C.EINTR) continue;
      if (code === C.EAGAIN || code === C.ENOBUFS) {
        // The socket buffer is full: the rest of this call is refused, not waited for.
        for (let m = done; m < n; m++) this.counters.sendErrors += this.messageDatagrams[m];
        break;
      }
      if (this.messageDatagrams[done] > 1 && (code === C.EIO || code === C.EINVAL || code === C.ENOPROTOOPT || code === C.EOPNOTSUPP)) {
        this.gsoRefused(code, done);
        progress.resumeAt = this.messageStart[done];
        break;
      }
      // This message was refused (EMSGSIZE, EHOSTUNREACH, …): count it, send the rest.
      this.counters.sendErrors += this.messageDatagrams[done];
      done++;
    }
    return sent;
  }

  /** The kernel refused GSO message m: remember it (no retry per batch) and say so once. */
  private gsoRefused(code: number, m: number): void {
    this.offloadCounters.gsoFallbacks++;
    const words = this.arenaWords;
    const segment = words[(SEND_CAPACITY * (C.MMSGHDR_SIZE + C.IOVEC_SIZE) + m * C.CMSG_SPACE_INT + C.CMSG_DATA) >>> 2] & 0xffff;
    if (code === C.EINVAL && segment > 1 && this.gsoSegmentLimit === GSO_MAX_BYTES) {
      // A segment longer than the route's MTU allows: smaller ones may still go as GSO. A second
      // EINVAL (a smaller size refused too) is taken as GSO refused altogether.
      this.gsoSegmentLimit = Math.min(this.gsoSegmentLimit, segment - 1);
      this.onNotice?.(`UDP GSO refused for ${segment}-byte datagrams (EINVAL: longer than the path MTU allows?): `
        + `datagrams of ${segment} bytes or more go one by one from now on`);
    } else {
      this.gsoOn = false;
      this.onNotice?.(`UDP GSO refused by the kernel (${C.errnoName(code)}${code === C.EIO ? ': the route\'s device has no transmit checksum offload?' : ''}): `
        + 'sending datagrams one by one from now on');
    }
  }
}
