// Test helpers for the name server: a small DNS client (UDP or TCP, with a timeout) and a fake
// upstream resolver on a loopback address of the test's choosing, answering over UDP and TCP and
// remembering what it was asked. Everything stays on loopback.
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { connect, createServer, type Server } from 'node:net';
import dnsPacket from 'dns-packet';
import type { DecodedPacket, Packet } from 'dns-packet';

export type Decoded = DecodedPacket & { rcode: string; opcode: string };

export function encodeQuery(name: string, type: string, id: number, extra: Partial<Packet> = {}): Buffer {
  return dnsPacket.encode({ type: 'query', id, flags: dnsPacket.RECURSION_DESIRED, questions: [{ name, type: type as 'A' }], ...extra });
}

/** Send raw bytes over UDP from a fresh socket; the first datagram back, or undefined after `timeoutMs`. */
export async function udpExchange(port: number, message: Buffer, timeoutMs = 3000, address = '127.0.0.1'): Promise<Buffer | undefined> {
  const socket = createSocket('udp4');
  try {
    return await new Promise<Buffer | undefined>((resolve, reject) => {
      const timer = setTimeout(() => resolve(undefined), timeoutMs);
      socket.on('message', (reply) => {
        clearTimeout(timer);
        resolve(reply);
      });
      socket.on('error', reject);
      socket.send(message, port, address);
    });
  } finally {
    socket.close();
  }
}

/** One query over TCP (length-prefixed); the first message back. */
export async function tcpExchange(port: number, message: Buffer, timeoutMs = 3000, address = '127.0.0.1'): Promise<Buffer> {
  const socket = connect({ host: address, port });
  try {
    return await new Promise<Buffer>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no TCP answer in ${timeoutMs} ms`)), timeoutMs);
      let received = Buffer.alloc(0);
      socket.on('connect', () => {
        const prefix = Buffer.alloc(2);
        prefix.writeUInt16BE(message.length);
        socket.write(Buffer.concat([prefix, message]));
      });
      socket.on('data', (chunk) => {
        received = Buffer.concat([received, chunk]);
        if (received.length >= 2 && received.length >= 2 + received.readUInt16BE(0)) {
          clearTimeout(timer);
          resolve(received.subarray(2, 2 + received.readUInt16BE(0)));
        }
      });
      socket.on('error', (error) => {
        clearTimeout(timer);
        reject(error);
      });
    });
  } finally {
    socket.destroy();
  }
}

export function decode(message: Buffer): Decoded {
  return dnsPacket.decode(message) as Decoded;
}

/** Query `name` over UDP and decode the answer; throws when none comes. */
export async function ask(port: number, name: string, type: string, id = 0x1234, extra: Partial<Packet> = {}): Promise<Decoded> {
  const reply = await udpExchange(port, encodeQuery(name, type, id, extra));
  if (reply === undefined) throw new Error(`no answer to ${name} ${type}`);
  return decode(reply);
}

export const answerData = (packet: Decoded) => (packet.answers ?? []).map((answer) => String((answer as { data: unknown }).data));

/**
 * A fake upstream on `address`, UDP and TCP on one port: answers every A query with `answerIp`,
 * unless `silent` (then it only records). `seen` holds each query's id and name as received.
 */
export class FakeUpstream {
  readonly seen: Array<{ id: number; name: string; transport: 'udp' | 'tcp' }> = [];
  silent = false;

  private constructor(readonly address: string, readonly port: number, private readonly udp: UdpSocket, private readonly tcp: Server, readonly answerIp: string) {}

  static async start(address: string, answerIp: string): Promise<FakeUpstream> {
    const udp = createSocket('udp4');
    await new Promise<void>((resolve, reject) => {
      udp.once('error', reject);
      udp.bind({ address, port: 0 }, () => resolve());
    });
    const port = udp.address().port;
    const tcp = createServer();
    await new Promise<void>((resolve, reject) => {
      tcp.once('error', reject);
      tcp.listen({ host: address, port }, () => resolve());
    });
    const upstream = new FakeUpstream(address, port, udp, tcp, answerIp);
    udp.on('message', (message, remote) => {
      const reply = upstream.answer(message, 'udp');
      if (reply !== undefined) udp.send(reply, remote.port, remote.address);
    });
    tcp.on('connection', (socket) => {
      let received = Buffer.alloc(0);
      socket.on('error', () => socket.destroy());
      socket.on('data', (chunk) => {
        received = Buffer.concat([received, chunk]);
        if (received.length < 2 || received.length < 2 + received.readUInt16BE(0)) return;
        const reply = upstream.answer(received.subarray(2, 2 + received.readUInt16BE(0)), 'tcp');
        if (reply === undefined) return;
        const prefix = Buffer.alloc(2);
        prefix.writeUInt16BE(reply.length);
        socket.end(Buffer.concat([prefix, reply]));
      });
    });
    return upstream;
  }

  private answer(message: Buffer, transport: 'udp' | 'tcp'): Buffer | undefined {
    const query = dnsPacket.decode(message);
    const question = query.questions![0]!;
    this.seen.push({ id: query.id!, name: question.name, transport });
    if (this.silent) return undefined;
    return dnsPacket.encode({
      type: 'response',
      id: query.id,
      flags: dnsPacket.RECURSION_DESIRED | dnsPacket.RECURSION_AVAILABLE,
      questions: [question],
      answers: question.type === 'A' ? [{ type: 'A', name: question.name, ttl: 300, data: this.answerIp }] : [],
    });
  }

  get endpoint(): string {
    return `${this.address}:${this.port}`;
  }

  async close(): Promise<void> {
    this.udp.close();
    await new Promise<void>((resolve) => this.tcp.close(() => resolve()));
  }
}

/** A UDP port on 127.0.0.1 that nothing listens on (bound, read, and closed again). */
export async function closedUdpPort(): Promise<number> {
  const socket = createSocket('udp4');
  await new Promise<void>((resolve) => socket.bind({ address: '127.0.0.1', port: 0 }, () => resolve()));
  const port = socket.address().port;
  await new Promise<void>((resolve) => socket.close(() => resolve()));
  return port;
}
