// Checked by tsc only (types.test.ts and the typecheck of test/): what the API returns goes
// where the DOM wants bytes over a plain ArrayBuffer (BlobPart, BufferSource) without a cast.
// TypeScript 5.7+ gives a bare Uint8Array the type Uint8Array<ArrayBufferLike>, which the DOM
// lib refuses there, since it might be a SharedArrayBuffer.
import { encapsulate, PacketBatch } from '../../src/index';
import type { TunnelOptions } from '../../src/index';

export function blobsOfApiResults(tunnel: TunnelOptions, batch: PacketBatch): Blob[] {
  const frame = encapsulate(new Uint8Array(60), tunnel);
  const plain: Uint8Array<ArrayBuffer> = frame;
  return [
    new Blob([frame]),
    new Blob([plain.buffer]),
    new Blob([batch.frame(0), batch.inner(0), batch.payload(0), batch.slot(0), batch.sourceAddress(0), batch.bytes]),
  ];
}
