/**
 * The typed errors of the overlay's name server: what a caller did wrong (a bad name or address
 * given to a NameTable, a bad upstream or listen address given to a NameServer) or what the
 * system refused (the port is taken). Each carries a code to branch on and a sentence for a user;
 * the CLI and the Docker driver turn them into their own wording. Nothing in a DNS query raises
 * one: a bad query is answered (FORMERR, REFUSED) or counted and dropped, never thrown.
 */

export const DnsErrorCode = {
  /** A name that is not a DNS name: empty, a label over 63 bytes, over 253 bytes in all. */
  BAD_NAME: 'BAD_NAME',
  /** An endpoint's address that is not an IPv4 (for `ipv4`) or IPv6 (for `ipv6`) address. */
  BAD_ADDRESS: 'BAD_ADDRESS',
  /** An upstream that is not "IP", "IP:PORT" or "[IPv6]:PORT". */
  BAD_UPSTREAM: 'BAD_UPSTREAM',
  /** The server could not bind its address and port (taken, not on this host, no permission). */
  LISTEN_FAILED: 'LISTEN_FAILED',
} as const;

export type DnsErrorCode = (typeof DnsErrorCode)[keyof typeof DnsErrorCode];

export class DnsError extends Error {
  override readonly name = 'DnsError';

  constructor(readonly code: DnsErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}
