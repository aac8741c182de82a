/**
 * The DNS server of one overlay network on one address (the network's DNS address, its gateway by
 * default), over UDP and TCP on the same port. What it does with a query:
 *
 * - A name in the network's NameTable (class IN): answered here, authoritatively, with every
 *   address of every endpoint behind it (rotated per query by the table), TTL `ttlSeconds`; a known
 *   name asked for a type it has none of: NODATA (NOERROR, no records), never NXDOMAIN. See
 *   responses.ts for why both.
 * - Any other name: forwarded to the upstreams (the host's own resolvers by default; see
 *   upstreams.ts) and the first answer relayed with the client's id; SERVFAIL when none answers in
 *   time or there are none. Only the exact name is looked up (case-insensitively, trailing dot or
 *   not): `web.example.com` is forwarded even if `web` is ours, as Docker's embedded DNS does for
 *   names outside its own.
 * - REFUSED for what it will not do: an opcode other than QUERY, a zone transfer (AXFR, IXFR), and a
 *   forward beyond the bound on queries in flight.
 * - Bytes that do not decode as a query: counted as malformed and dropped, no answer (an answer
 *   to garbage is how reflection attacks are made); a query with other than one question: FORMERR.
 *
 * It keeps no state per query except a forward in flight (bounded, with a timeout: upstream-client.ts)
 * and logs nothing per query except at debug level: its counters say what it did.
 */
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { isIP } from 'node:net';
import { DnsError, DnsErrorCode } from './errors';
import type { NameTable } from './name-table';
import {
  OPCODE_QUERY,
  Rcode,
  addressTypesFor,
  answerLimit,
  errorResponse,
  parseQuery,
  tableResponse,
  withId,
  type ResponseOptions,
  type Transport,
} from './responses';
import { TcpListener, type MessageHandler } from './tcp-listener';
import { UpstreamClient } from './upstream-client';
import { DNS_PORT, defaultUpstreams, parseUpstream, type Upstream } from './upstreams';

/** What the server logs with (pino's Logger fits). */
export interface NameServerLogger {
  warn(object: object, message: string): void;
  info(object: object, message: string): void;
  debug(object: object, message: string): void;
}

export interface NameServerOptions {
  address: string;
  /** Default 53; 0 picks a free port (the same for UDP and TCP). */
  port?: number;
  table: NameTable;
  /** "IP", "IP:PORT" or "[IPv6]:PORT"; default: /etc/resolv.conf's nameservers (see upstreams.ts). */
  upstreams?: string[];
  /** TTL of the records it answers itself; default 5 s, so a name that leaves stops resolving soon. */
  ttlSeconds?: number;
  /** How long one upstream has to answer before the next is asked; default 2000 ms. */
  forwardTimeoutMs?: number;
  /** Forwards in flight at most; beyond, REFUSED. Default 1024. */
  maxPendingForwards?: number;
  /** Serve TCP too (for truncated answers); default true. */
  tcp?: boolean;
  /** TCP connections at once at most; default 64. */
  maxTcpConnections?: number;
  /** A TCP connection idle this long is closed; default 10 000 ms. */
  tcpIdleTimeoutMs?: number;
  logger?: NameServerLogger;
}

export interface NameServerCounters {
  /** Queries answered from the table (NODATA included). */
  answered: number;
  /** Queries answered with an upstream's answer. */
  forwarded: number;
  /** REFUSED sent: an opcode other than QUERY, a zone transfer, too many forwards in flight. */
  refused: number;
  /** SERVFAIL sent: no upstream answered in time, or none is configured. */
  failed: number;
  /** Messages that were no query (dropped) or a query without exactly one question (FORMERR). */
  malformed: number;
}

export const DEFAULT_TTL_SECONDS = 5;
export const DEFAULT_FORWARD_TIMEOUT_MS = 2000;
export const DEFAULT_MAX_PENDING_FORWARDS = 1024;
const DEFAULT_MAX_TCP_CONNECTIONS = 64;
const DEFAULT_TCP_IDLE_TIMEOUT_MS = 10_000;
/** With port 0 the UDP port is picked first; if TCP finds it taken, pick again, this many times. */
const RANDOM_PORT_TRIES = 5;

/** Where the TCP listener sends messages: set once the server exists. */
interface Route {
  handle?: MessageHandler;
}

const silentLogger: NameServerLogger = { warn() {}, info() {}, debug() {} };

async function bindUdp(address: string, port: number): Promise<UdpSocket> {
  const socket = createSocket({ type: isIP(address) === 6 ? 'udp6' : 'udp4' });
  await new Promise<void>((resolve, reject) => {
    socket.once('error', reject);
    socket.bind({ address, port, exclusive: true }, () => {
      socket.off('error', reject);
      resolve();
    });
  });
  return socket;
}

export class NameServer {
  private readonly count: NameServerCounters = { answered: 0, forwarded: 0, refused: 0, failed: 0, malformed: 0 };
  private closing: Promise<void> | undefined;
  private readonly responseOptions: ResponseOptions;

  private constructor(
    readonly address: string,
    readonly port: number,
    private readonly table: NameTable,
    private readonly ttlSeconds: number,
    private readonly udp: UdpSocket,
    private readonly tcp: TcpListener | undefined,
    private readonly upstream: UpstreamClient,
    private readonly logger: NameServerLogger,
  ) {
    this.responseOptions = { recursionAvailable: upstream.hasUpstreams };
    udp.on('message', (message, remote) => {
      this.handle(message, 'udp', (response) => {
        if (this.closing === undefined) udp.send(response, remote.port, remote.address);
      });
    });
    // A send error (an ICMP error for a client that left) must not take the server down.
    udp.on('error', (error) => this.logger.warn({ err: error, address, port }, 'dns: UDP socket error'));
  }

  /**
   * Listen on `options.address`, UDP and (unless `tcp: false`) TCP on one port. Throws DnsError:
   * BAD_UPSTREAM for an upstream it cannot parse, LISTEN_FAILED when the address and port cannot be
   * bound (with the system's error as its cause).
   */
  static async listen(options: NameServerOptions): Promise<NameServer> {
    const logger = options.logger ?? silentLogger;
    const requestedPort = options.port ?? DNS_PORT;
    if (isIP(options.address) === 0) throw new DnsError(DnsErrorCode.LISTEN_FAILED, `dns: ${JSON.stringify(options.address)} is not an IP address to listen on`);
    const ttlSeconds = options.ttlSeconds ?? DEFAULT_TTL_SECONDS;
    if (!Number.isInteger(ttlSeconds) || ttlSeconds < 0 || ttlSeconds > 0x7fffffff) throw new RangeError(`dns: ttlSeconds ${ttlSeconds} is not an integer in 0..2^31-1`);
    const explicitUpstreams: Upstream[] | undefined = options.upstreams?.map(parseUpstream);

    const { udp, tcp, route } = await NameServer.bind(options, requestedPort);
    const port = udp.address().port;
    const upstreams = explicitUpstreams ?? defaultUpstreams(options.address, port);
    let upstream: UpstreamClient;
    try {
      upstream = await UpstreamClient.open({
        upstreams,
        timeoutMs: options.forwardTimeoutMs ?? DEFAULT_FORWARD_TIMEOUT_MS,
        maxPending: options.maxPendingForwards ?? DEFAULT_MAX_PENDING_FORWARDS,
      });
    } catch (error) {
      udp.close();
      await tcp?.close();
      throw new DnsError(DnsErrorCode.LISTEN_FAILED, `dns: cannot open a socket towards the upstreams: ${(error as Error).message}`, { cause: error });
    }
    if (upstreams.length === 0) logger.warn({ address: options.address, port }, 'dns: no upstream resolvers; names outside the network get SERVFAIL');
    logger.info({ address: options.address, port, upstreams: upstreams.map((u) => `${u.address}:${u.port}`), tcp: tcp !== undefined }, 'dns: listening');
    const server = new NameServer(options.address, port, options.table, ttlSeconds, udp, tcp, upstream, logger);
    route.handle = (message, transport, reply) => server.handle(message, transport, reply);
    return server;
  }

  /** UDP on the port asked for, then TCP on the same one; with port 0, tries again if TCP finds UDP's pick taken. */
  private static async bind(options: NameServerOptions, requestedPort: number): Promise<{ udp: UdpSocket; tcp: TcpListener | undefined; route: Route }> {
    // TCP connections are routed to the server once it exists (it needs the bound port first).
    const route: Route = {};
    const tries = requestedPort === 0 ? RANDOM_PORT_TRIES : 1;
    let lastError: unknown;
    for (let attempt = 0; attempt < tries; attempt++) {
      let udp: UdpSocket;
      try {
        udp = await bindUdp(options.address, requestedPort);
      } catch (error) {
        lastError = error;
        break;
      }
      if (options.tcp === false) return { udp, tcp: undefined, route };
      try {
        const tcp = await TcpListener.listen(
          {
            address: options.address,
            port: udp.address().port,
            maxConnections: options.maxTcpConnections ?? DEFAULT_MAX_TCP_CONNECTIONS,
            idleTimeoutMs: options.tcpIdleTimeoutMs ?? DEFAULT_TCP_IDLE_TIMEOUT_MS,
          },
          (message, transport, reply) => route.handle?.(message, transport, reply),
        );
        return { udp, tcp, route };
      } catch (error) {
        lastError = error;
        udp.close();
      }
    }
    const why = (lastError as NodeJS.ErrnoException | undefined)?.code ?? (lastError as Error | undefined)?.message ?? 'unknown error';
    throw new DnsError(DnsErrorCode.LISTEN_FAILED, `dns: cannot listen on ${options.address} port ${requestedPort}: ${why}`, { cause: lastError });
  }

  counters(): NameServerCounters {
    return { ...this.count };
  }

  /** Forwards in flight now (bounded by maxPendingForwards). */
  get pendingForwards(): number {
    return this.upstream.pendingCount;
  }

  /** Answer one message (from UDP or TCP) through `reply`, now or when an upstream answers. */
  private handle(message: Buffer, transport: Transport, reply: (response: Buffer) => void): void {
    const query = parseQuery(message);
    if (query === undefined) {
      this.count.malformed += 1;
      return;
    }
    if (query.opcode !== OPCODE_QUERY) {
      this.count.refused += 1;
      reply(errorResponse(query, Rcode.REFUSED, this.responseOptions));
      return;
    }
    if (query.questions.length !== 1) {
      this.count.malformed += 1;
      reply(errorResponse(query, Rcode.FORMERR, this.responseOptions));
      return;
    }
    const question = query.questions[0]!;
    if (question.type === 'AXFR' || question.type === 'IXFR') {
      this.count.refused += 1;
      reply(errorResponse(query, Rcode.REFUSED, this.responseOptions));
      return;
    }
    const inClass = question.class === undefined || question.class === 'IN' || question.class === 'ANY';
    if (inClass && this.table.has(question.name)) {
      const records = addressTypesFor(question).map((type) => ({ type, addresses: this.table.resolve(question.name, type) }));
      this.count.answered += 1;
      reply(tableResponse(query, records, this.ttlSeconds, answerLimit(query, transport), this.responseOptions));
      return;
    }
    const accepted = this.upstream.forward(message, question, transport, (response) => {
      if (this.closing !== undefined) return;
      if (response === undefined) {
        this.count.failed += 1;
        this.logger.debug({ name: question.name, type: question.type }, 'dns: no upstream answered');
        reply(errorResponse(query, Rcode.SERVFAIL, this.responseOptions));
      } else {
        this.count.forwarded += 1;
        reply(withId(response, query.id));
      }
    });
    if (!accepted) {
      this.count.refused += 1;
      reply(errorResponse(query, Rcode.REFUSED, this.responseOptions));
    }
  }

  /** Stop answering, end forwards in flight, close every socket. Idempotent: later calls get the same promise. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      this.upstream.close();
      await Promise.all([new Promise<void>((resolve) => this.udp.close(() => resolve())), this.tcp?.close()]);
      this.logger.info({ address: this.address, port: this.port }, 'dns: closed');
    })();
    return this.closing;
  }
}
