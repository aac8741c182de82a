/**
 * What the parts of a UserspaceHost share, handed to each explicitly: nothing global, and each
 * part names in its constructor what else it needs.
 */
import type { UserspaceHostCounters } from './counters';
import type { HostAddresses } from './options';
import type { Outbox } from './outbox';
import type { Waits } from './waits';

export interface HostContext {
  /** For error messages. */
  readonly name: string;
  readonly self: HostAddresses;
  readonly mtu: number;
  readonly counters: UserspaceHostCounters;
  /** Where every frame the host sends is built. */
  readonly outbox: Outbox;
  readonly waits: Waits;
}
