/**
 * Forwarding a query for a name outside the overlay to the upstream resolvers, and handing back the
 * first answer. The client's bytes go upstream unchanged but for the id, which is ours: a fresh
 * random one per query, so answers to two clients that chose the same id never mix, and a guess
 * is needed to forge one.
 *
 * - Upstreams are tried in order, each for `timeoutMs`; the first that answers wins; after the last,
 *   `done(undefined)` and the server answers SERVFAIL. Over UDP an answer counts only when it comes
 *   from the upstream asked, with our id, as a response to the same question (anything else on the
 *   socket is ignored, so a stray or forged datagram cannot end a query). A query that came over TCP
 *   (a client retrying a truncated answer) goes upstream over TCP, one connection per query.
 * - Bounded: at most `maxPending` queries in flight (`forward` returns false beyond, and the server
 *   refuses), each with one timer, and nothing about a query remains after its answer or its last
 *   timeout: a flood costs at most `maxPending` entries, never memory that grows.
 */
import { createSocket, type Socket as UdpSocket, type RemoteInfo } from 'node:dgram';
import { connect, type Socket as TcpSocket } from 'node:net';
import { randomInt } from 'node:crypto';
import dnsPacket from 'dns-packet';
import type { Question } from 'dns-packet';
import type { Upstream } from './upstreams';
import { withId, type Transport } from './responses';

export interface UpstreamClientOptions {
  upstreams: readonly Upstream[];
  /** How long one upstream has to answer before the next is asked. */
  timeoutMs: number;
  maxPending: number;
}

/** `response` is the upstream's answer with OUR id (the caller puts its client's back), or undefined when none answered. */
export type ForwardDone = (response: Buffer | undefined) => void;

interface Pending {
  readonly id: number;
  /** The client's query with our id. */
  readonly query: Buffer;
  readonly name: string;
  readonly type: string;
  readonly transport: Transport;
  readonly done: ForwardDone;
  /** Which upstream is being asked. */
  index: number;
  timer: NodeJS.Timeout | undefined;
  tcp: TcpSocket | undefined;
}

const ID_SPACE = 0x10000;
/** RFC 1035 §4.2.2: a TCP message is preceded by its 16-bit length. */
const TCP_LENGTH_LEN = 2;

export class UpstreamClient {
  private readonly pending = new Map<number, Pending>();
  private closed = false;

  private constructor(
    private readonly options: UpstreamClientOptions,
    private readonly udp4: UdpSocket | undefined,
    private readonly udp6: UdpSocket | undefined,
  ) {
    for (const socket of [udp4, udp6]) socket?.on('message', (message, remote) => this.onUdpMessage(message, remote));
  }

  /** Bind one UDP socket per address family the upstreams use (an ephemeral port on any address). */
  static async open(options: UpstreamClientOptions): Promise<UpstreamClient> {
    const bind = async (type: 'udp4' | 'udp6') => {
      const socket = createSocket({ type });
      // An ICMP error (an upstream's closed port) surfaces as 'error' on some kernels: not fatal.
      socket.on('error', () => {});
      await new Promise<void>((resolve, reject) => {
        socket.once('error', reject);
        socket.bind({ port: 0 }, () => {
          socket.off('error', reject);
          resolve();
        });
      });
      return socket;
    };
    const families = new Set(options.upstreams.map((upstream) => upstream.family));
    const udp4 = families.has(4) ? await bind('udp4') : undefined;
    let udp6: UdpSocket | undefined;
    try {
      udp6 = families.has(6) ? await bind('udp6') : undefined;
    } catch (error) {
      udp4?.close();
      throw error;
    }
    return new UpstreamClient(options, udp4, udp6);
  }

  get hasUpstreams(): boolean {
    return this.options.upstreams.length > 0;
  }

  /** How many queries are in flight (for tests and metrics). */
  get pendingCount(): number {
    return this.pending.size;
  }

  /**
   * Send `query` (the client's bytes) upstream about `question`; `done` is called exactly once,
   * later. Returns false, and never calls `done`, when `maxPending` queries are already in flight
   * or the client is closed.
   */
  forward(query: Buffer, question: Question, transport: Transport, done: ForwardDone): boolean {
    if (this.closed || this.pending.size >= this.options.maxPending) return false;
    if (this.options.upstreams.length === 0) {
      queueMicrotask(() => done(undefined));
      return true;
    }
    let id = randomInt(ID_SPACE);
    // At most maxPending ids are taken (1024 of 65536 by default): a free one is found in a few tries.
    while (this.pending.has(id)) id = randomInt(ID_SPACE);
    const entry: Pending = {
      id,
      query: withId(query, id),
      name: question.name.toLowerCase(),
      type: question.type,
      transport,
      done,
      index: 0,
      timer: undefined,
      tcp: undefined,
    };
    this.pending.set(id, entry);
    this.attempt(entry);
    return true;
  }

  private attempt(entry: Pending): void {
    const upstream = this.options.upstreams[entry.index]!;
    entry.timer = setTimeout(() => this.next(entry), this.options.timeoutMs);
    if (entry.transport === 'udp') {
      const socket = upstream.family === 4 ? this.udp4! : this.udp6!;
      socket.send(entry.query, upstream.port, upstream.address, (error) => {
        if (error !== null && error !== undefined && this.pending.get(entry.id) === entry) this.next(entry);
      });
    } else {
      this.attemptTcp(entry, upstream);
    }
  }

  private attemptTcp(entry: Pending, upstream: Upstream): void {
    const socket = connect({ host: upstream.address, port: upstream.port, family: upstream.family });
    entry.tcp = socket;
    let received = Buffer.alloc(0);
    const prefix = Buffer.alloc(TCP_LENGTH_LEN);
    prefix.writeUInt16BE(entry.query.length);
    socket.on('connect', () => socket.end(Buffer.concat([prefix, entry.query])));
    socket.on('data', (chunk) => {
      received = Buffer.concat([received, chunk]);
      if (received.length < TCP_LENGTH_LEN) return;
      const length = received.readUInt16BE(0);
      if (received.length < TCP_LENGTH_LEN + length) return;
      const message = received.subarray(TCP_LENGTH_LEN, TCP_LENGTH_LEN + length);
      if (this.pending.get(entry.id) === entry && entry.tcp === socket && this.answers(entry, message)) this.finish(entry, Buffer.from(message));
      else socket.destroy();
    });
    // A refused connection or one closed without an answer: on to the next upstream at once.
    const failed = () => {
      if (this.pending.get(entry.id) === entry && entry.tcp === socket) this.next(entry);
    };
    socket.on('error', failed);
    socket.on('close', failed);
  }

  /** Whether `message` is an answer to `entry`: a response with its id and question. */
  private answers(entry: Pending, message: Buffer): boolean {
    if (message.length < 12 || message.readUInt16BE(0) !== entry.id) return false;
    try {
      const packet = dnsPacket.decode(message);
      const question = packet.questions?.[0];
      return packet.type === 'response' && question !== undefined && question.name.toLowerCase() === entry.name && question.type === entry.type;
    } catch {
      return false;
    }
  }

  private onUdpMessage(message: Buffer, remote: RemoteInfo): void {
    if (message.length < 2) return;
    const entry = this.pending.get(message.readUInt16BE(0));
    if (entry === undefined || entry.transport !== 'udp') return;
    const upstream = this.options.upstreams[entry.index]!;
    if (remote.port !== upstream.port || remote.address !== upstream.address) return;
    if (this.answers(entry, message)) this.finish(entry, message);
  }

  /** Give up on the current upstream and ask the next, or end with no answer after the last. */
  private next(entry: Pending): void {
    this.stopAttempt(entry);
    entry.index += 1;
    if (entry.index < this.options.upstreams.length && !this.closed) this.attempt(entry);
    else this.finish(entry, undefined);
  }

  private stopAttempt(entry: Pending): void {
    if (entry.timer !== undefined) clearTimeout(entry.timer);
    entry.timer = undefined;
    const tcp = entry.tcp;
    entry.tcp = undefined;
    tcp?.destroy();
  }

  private finish(entry: Pending, response: Buffer | undefined): void {
    this.stopAttempt(entry);
    this.pending.delete(entry.id);
    entry.done(response);
  }

  /** End every query in flight with no answer, and close the sockets. Idempotent. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const entry of [...this.pending.values()]) this.finish(entry, undefined);
    this.udp4?.close();
    this.udp6?.close();
  }
}
