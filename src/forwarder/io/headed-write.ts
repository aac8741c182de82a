/**
 * One `writev` of a header this object owns followed by bytes that lie elsewhere (a frame in a
 * reader's ring): a virtio-net header (and outer headers) in front of a super-frame, written to a
 * TAP without copying the frame. The header and the two iovecs are in memory that never moves.
 */
import * as C from './libc';

export class HeadedWrite {
  /** The header's bytes: fill them before each write(). */
  readonly header: Uint8Array;
  private readonly iov = new Uint32Array(new SharedArrayBuffer(2 * C.IOVEC_SIZE));
  private readonly iovAddress = C.addressOf(this.iov);

  constructor(headerLength: number) {
    this.header = new Uint8Array(new SharedArrayBuffer(headerLength));
    C.writePointer(this.iov, C.IOV_BASE, C.addressOf(this.header));
    C.writePointer(this.iov, C.IOV_LEN, headerLength);
  }

  /** Write the header, then `length` bytes at memory address `address`, to `fd` (retried once on EINTR); true when all of it was taken. */
  write(fd: number, address: number, length: number): boolean {
    C.writePointer(this.iov, C.IOVEC_SIZE + C.IOV_BASE, address);
    C.writePointer(this.iov, C.IOVEC_SIZE + C.IOV_LEN, length);
    const libc = C.libc();
    let written = libc.writevAt(fd, this.iovAddress, 2);
    if (written < 0 && C.errno() === C.EINTR) written = libc.writevAt(fd, this.iovAddress, 2);
    return written === this.header.length + length;
  }
}
