/** Small helpers every header codec shares: network-order 16-bit access, field range and buffer room checks. */

export function readU16(buf: Uint8Array, at: number): number {
  return (buf[at] << 8) | buf[at + 1];
}

export function writeU16(buf: Uint8Array, at: number, value: number): void {
  buf[at] = value >> 8;
  buf[at + 1] = value & 0xff;
}

/** Network-order 32-bit read, unsigned (an IPv4 address as one number, a sequence number). */
export function readU32(buf: Uint8Array, at: number): number {
  return ((buf[at] << 24) | (buf[at + 1] << 16) | (buf[at + 2] << 8) | buf[at + 3]) >>> 0;
}

export function writeU32(buf: Uint8Array, at: number, value: number): void {
  buf[at] = value >>> 24;
  buf[at + 1] = (value >>> 16) & 0xff;
  buf[at + 2] = (value >>> 8) & 0xff;
  buf[at + 3] = value & 0xff;
}

/** Throw a RangeError naming the field unless `value` is an integer in 0..max. */
export function checkUint(name: string, value: unknown, max: number): void {
  if (!Number.isInteger(value) || (value as number) < 0 || (value as number) > max) {
    throw new RangeError(`${name} must be 0..${max} (got ${String(value)})`);
  }
}

/** Return `value` if it is an integer in min..max; otherwise throw a RangeError naming the field. */
export function checkInteger(value: unknown, name: string, min: number, max: number): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw new RangeError(`${name} must be an integer in ${min}..${max}, got ${String(value)}`);
  }
  return value;
}

/** Throw a RangeError unless `length` bytes for `what` (e.g. "the UDP header") fit in `buf` at `offset`. */
export function checkRoom(buf: Uint8Array, offset: number, length: number, what: string): void {
  if (!Number.isInteger(offset) || offset < 0 || offset + length > buf.length) {
    throw new RangeError(`buffer too small: ${what} needs ${length} bytes at offset ${offset}`);
  }
}

/**
 * `data` must be a Uint8Array whose buffer is still there. A view of a transferred (detached)
 * ArrayBuffer reads as empty and fails later with an engine message; it has length 0, so only
 * empty views pay for the check. Node 20 has no `ArrayBuffer.prototype.detached`, but making a
 * view of a detached buffer throws. `length`, not `byteLength` (the same for bytes): V8 reads
 * `length` inline, while `byteLength` cost about 9 ns per call, on every call.
 */
export function checkBytes(data: unknown, name: string): asserts data is Uint8Array {
  if (!(data instanceof Uint8Array)) throw new TypeError(`${name} must be a Uint8Array`);
  if (data.length === 0 && isDetached(data.buffer)) {
    throw new TypeError(`${name} is detached: its ArrayBuffer was transferred (postMessage, structuredClone) and holds no bytes`);
  }
}

function isDetached(buffer: ArrayBufferLike): boolean {
  const detached = (buffer as { detached?: unknown }).detached;
  if (typeof detached === 'boolean') return detached;
  try {
    new Uint8Array(buffer, 0, 0);
    return false;
  } catch {
    return true;
  }
}
