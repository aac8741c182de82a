/** The zero-copy batch API: PacketBatch slots in kernel memory, Encapsulator, Decapsulator. */
export {
  PacketBatch, DEFAULT_CAPACITY, DEFAULT_SLOT_SIZE, JUMBO_SLOT_SIZE, SLOT_HEADROOM, slotStatusName,
} from './packet-batch';
export type { PacketBatchOptions, InnerChecksumState } from './packet-batch';
export { Encapsulator } from './encapsulator';
export type { EncapsulatorOptions } from './encapsulator';
export { Decapsulator } from './decapsulator';
export type { DecapsulatorOptions, DecapCounters } from './decapsulator';
export { verifyInnerChecksum, completeInnerChecksum } from './inner-checksum';
export type { UdpChecksumMode, TunnelTemplate } from './template';
export { SLOT_INVALID, SLOT_NO_PEER } from '../wasm/abi';
