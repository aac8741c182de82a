/**
 * `vxlan-wasm demo`: two VXLAN tunnel endpoints on loopback, no root needed.
 *
 * Endpoint A wraps inner Ethernet frames (ICMP echo requests from one overlay host to another)
 * with `encapsulate`, checks the outer frame with `decapsulate`, and sends the UDP payload
 * (VXLAN header + inner frame) to endpoint B over a real UDP socket; B decodes the VXLAN
 * header, checks the inner frame arrived intact, and both ends print what they saw.
 */
import { createSocket, type Socket } from 'node:dgram';
import { once } from 'node:events';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { checksum, decapsulate, encapsulate } from '../api';
import { backendName } from '../backend';
import { writePcap } from '../pcap/index';
import type { TunnelOptions } from '../types';
import * as vxlan from '../wire/vxlan';
import { parseIpv4, parseMac } from '../wire/address';

export interface DemoOptions {
  count: number;
  write: (line: string) => void;
}

/** An inner Ethernet + IPv4 + ICMP echo request, every checksum right. */
export function icmpEchoFrame(sequence: number, payloadLen: number): Uint8Array {
  const frame = new Uint8Array(14 + 20 + 8 + payloadLen);
  frame.set(parseMac('52:54:00:00:00:02'), 0);
  frame.set(parseMac('52:54:00:00:00:01'), 6);
  frame.set([0x08, 0x00], 12);
  const ip = frame.subarray(14, 34);
  ip.set([0x45, 0, (20 + 8 + payloadLen) >> 8, (20 + 8 + payloadLen) & 0xff, 0, sequence & 0xff, 0x40, 0, 64, 1]);
  ip.set(parseIpv4('192.168.100.1'), 12);
  ip.set(parseIpv4('192.168.100.2'), 16);
  const ipChecksum = checksum(ip);
  ip.set([ipChecksum >> 8, ipChecksum & 0xff], 10);
  const icmp = frame.subarray(34);
  icmp.set([8, 0, 0, 0, 0x12, 0x34, sequence >> 8, sequence & 0xff]);
  for (let i = 8; i < icmp.length; i++) icmp[i] = i & 0xff;
  const icmpChecksum = checksum(icmp);
  icmp.set([icmpChecksum >> 8, icmpChecksum & 0xff], 2);
  return frame;
}

async function bindLoopback(): Promise<Socket> {
  const socket = createSocket('udp4');
  socket.bind(0, '127.0.0.1');
  await once(socket, 'listening');
  return socket;
}

export async function demoCommand({ count, write }: DemoOptions): Promise<number> {
  if (!Number.isInteger(count) || count < 1 || count > 10000) throw new RangeError('--count must be 1..10000');
  const a = await bindLoopback();
  const b = await bindLoopback();
  try {
    const tunnel: TunnelOptions = {
      vni: 4242,
      source: { mac: '02:00:00:00:00:0a', ip: '127.0.0.1', port: a.address().port },
      destination: { mac: '02:00:00:00:00:0b', ip: '127.0.0.1', port: b.address().port },
    };
    write(`backend: ${backendName()}; endpoint A udp 127.0.0.1:${a.address().port} -> endpoint B udp 127.0.0.1:${b.address().port}, VNI ${tunnel.vni}`);
    const sent: Uint8Array[] = [];
    const outer: Uint8Array[] = [];
    const received = new Promise<number>((resolve, reject) => {
      let matched = 0;
      let seen = 0;
      b.on('message', (message, remote) => {
        const header = vxlan.decode(message, 0);
        const inner = message.subarray(8);
        const expected = sent[seen++];
        const same = expected !== undefined && Buffer.compare(Buffer.from(inner), Buffer.from(expected)) === 0;
        if (same && header.vni === tunnel.vni) matched++;
        write(`B <- ${remote.address}:${remote.port} VXLAN vni ${header.vni} inner ${inner.length} B ${same ? 'intact' : 'CORRUPTED'}`);
        if (seen === count) resolve(matched);
      });
      setTimeout(() => reject(new Error(`timed out: B saw ${seen} of ${count} datagrams`)), 5000).unref();
    });
    for (let sequence = 1; sequence <= count; sequence++) {
      const inner = icmpEchoFrame(sequence, 16 * sequence);
      const frame = encapsulate(inner, tunnel);
      // The object API checks every header and checksum of what we built.
      const decoded = decapsulate(frame, { ports: [tunnel.destination.port!] });
      const udpPayload = frame.subarray(frame.length - inner.length - 8);
      sent.push(inner);
      outer.push(frame);
      write(`A -> ${frame.length} B frame: IPv4 id ${(decoded.ip as { identification: number }).identification} ` +
        `udp ${decoded.udp.sourcePort}>${decoded.udp.destinationPort} checksum 0x${decoded.udp.checksum.toString(16)} verified`);
      a.send(udpPayload, b.address().port, '127.0.0.1');
    }
    const matched = await received;
    const capture = join(mkdtempSync(join(tmpdir(), 'vxlan-demo-')), 'outer.pcap');
    writeFileSync(capture, writePcap(outer.map((data) => ({ data }))));
    write(`${matched}/${count} inner frames arrived intact; outer frames written to ${capture} (try: vxlan-wasm decode ${capture} --port ${b.address().port})`);
    return matched === count ? 0 : 1;
  } finally {
    a.close();
    b.close();
  }
}
