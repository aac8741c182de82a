/**
 * The host's IPv4 neighbours (address → MAC), bounded: when full, the oldest entry goes. ARP
 * resolutions in progress wait here and are woken when their address is learned.
 */
import type { Wakeable } from './waits';

export class NeighbourCache {
  /** IPv4 (u32) → MAC. Map order is insertion order: the first key is the oldest, evicted when full. */
  private readonly entries = new Map<number, Uint8Array>();
  /** ARP resolutions in progress, by the address they wait for. */
  private readonly waiters = new Map<number, Set<Wakeable>>();

  constructor(private readonly limit: number) {}

  get size(): number {
    return this.entries.size;
  }

  /** The MAC for `ip` (the cache's own bytes: copy what you keep), or undefined. */
  get(ip: number): Uint8Array | undefined {
    return this.entries.get(ip);
  }

  /** `ip` is at the MAC at `bytes[macAt]`: stored (evicting the oldest when full), its waiters woken. */
  learn(ip: number, bytes: Uint8Array, macAt: number): void {
    let entry = this.entries.get(ip);
    if (entry === undefined) {
      if (this.entries.size >= this.limit) {
        const oldest = this.entries.keys().next().value as number;
        this.entries.delete(oldest);
      }
      entry = new Uint8Array(6);
      this.entries.set(ip, entry);
    }
    for (let i = 0; i < 6; i++) entry[i] = bytes[macAt + i];
    const waiters = this.waiters.get(ip);
    if (waiters !== undefined) for (const waiter of waiters) waiter.wake?.();
  }

  /** Update the MAC of `ip` if it is known; learn nothing new. */
  refresh(ip: number, bytes: Uint8Array, macAt: number): void {
    const known = this.entries.get(ip);
    if (known !== undefined) for (let i = 0; i < 6; i++) known[i] = bytes[macAt + i];
  }

  addWaiter(ip: number, waiter: Wakeable): void {
    let waiters = this.waiters.get(ip);
    if (waiters === undefined) this.waiters.set(ip, (waiters = new Set()));
    waiters.add(waiter);
  }

  removeWaiter(ip: number, waiter: Wakeable): void {
    const waiters = this.waiters.get(ip);
    if (waiters === undefined) return;
    waiters.delete(waiter);
    if (waiters.size === 0) this.waiters.delete(ip);
  }
}
