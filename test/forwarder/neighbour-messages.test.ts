// The one writer of ARP replies and neighbour advertisements, shared by the forwarder's neighbour
// table (in place over the request) and the userspace host (into a fresh queue cell): the bytes
// are checked against the RFC layouts written out here, the checksum against the test's naive sum,
// and an answer written over its own request equals one written into clean memory.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  ARP_LEN, ARP_REPLY, ND_ADVERTISEMENT_LEN, ND_FLAG_OVERRIDE, ND_FLAG_SOLICITED, writeArp, writeNeighbourAdvertisement,
} from '../../src/forwarder/neighbour-messages';
import { naiveSum } from '../helpers/bytes';

const MAC_A = [2, 0, 0, 0, 0, 0xa];
const MAC_B = [2, 0, 0, 0, 0, 0xb];
const SOURCE = [0xfd, 0x42, ...new Array(13).fill(0), 1];
const TARGET = [0xfd, 0x42, ...new Array(13).fill(0), 2];
const SOLICITED_NODE = [0xff, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0xff, 0, 0, 2];

/** The ICMPv6 message behind the IPv6 header at `ip` sums with its pseudo-header to 0xffff. */
function icmpv6Verifies(bytes: Uint8Array, ip: number): boolean {
  const length = (bytes[ip + 4] << 8) | bytes[ip + 5];
  const pseudo = Uint8Array.from([...bytes.subarray(ip + 8, ip + 40), 0, 0, length >> 8, length & 0xff, 0, 0, 0, 58]);
  return naiveSum(bytes.subarray(ip + 40, ip + 40 + length), naiveSum(pseudo)) === 0xffff;
}

test('writeArp lays out an Ethernet/IPv4 ARP body, every byte, at an offset into used memory', () => {
  const out = new Uint8Array(3 + ARP_LEN + 3).fill(0xa5);
  const macs = Uint8Array.from([...MAC_A, ...MAC_B]);
  writeArp(out, 3, ARP_REPLY, macs, 0, 0x0a2a0001, macs, 6, 0x0a2a0002);
  assert.equal([...out], [
    0xa5, 0xa5, 0xa5,
    0, 1, 0x08, 0, 6, 4, 0, 2, ...MAC_A, 10, 42, 0, 1, ...MAC_B, 10, 42, 0, 2,
    0xa5, 0xa5, 0xa5,
  ]);
});

test('a neighbour advertisement written over its solicitation equals one written into clean memory', () => {
  // Ethernet, IPv6 (traffic class and flow label set: the caller's word, kept), NS for TARGET from SOURCE with a source link-layer option.
  const solicitation = Uint8Array.from([
    0x33, 0x33, 0xff, 0, 0, 2, ...MAC_A, 0x86, 0xdd,
    0x6a, 0xb1, 0x23, 0x45, 0, 32, 58, 255, ...SOURCE, ...SOLICITED_NODE,
    135, 0, 0x12, 0x34, 0, 0, 0, 0, ...TARGET, 1, 1, ...MAC_A,
  ]);
  const inPlace = solicitation.slice();
  inPlace.set(MAC_B, 6); // the neighbour's MAC, where the table puts it before answering
  writeNeighbourAdvertisement(inPlace, 14, ND_FLAG_SOLICITED | ND_FLAG_OVERRIDE, inPlace, 14 + 40 + 8, inPlace, 6, inPlace, 14 + 8);

  const clean = new Uint8Array(14 + 40 + ND_ADVERTISEMENT_LEN).fill(0xa5);
  clean.set(inPlace.subarray(0, 18));
  writeNeighbourAdvertisement(clean, 14, ND_FLAG_SOLICITED | ND_FLAG_OVERRIDE, Uint8Array.from(TARGET), 0,
    Uint8Array.from(MAC_B), 0, Uint8Array.from(SOURCE), 0);

  assert.equal([...inPlace], [...clean]);
  assert.equal([...clean.subarray(14)].filter((_, i) => i !== 42 && i !== 43), [
    0x6a, 0xb1, 0x23, 0x45, 0, 32, 58, 255, ...TARGET, ...SOURCE,
    136, 0, 0x60, 0, 0, 0, ...TARGET, 2, 1, ...MAC_B,
  ]);
  assert.ok(icmpv6Verifies(clean, 14), 'ICMPv6 checksum');
  // The override-only advertisement (an answer to duplicate address detection) differs in its flags and checksum alone.
  const dad = clean.slice();
  writeNeighbourAdvertisement(dad, 14, ND_FLAG_OVERRIDE, Uint8Array.from(TARGET), 0, Uint8Array.from(MAC_B), 0, Uint8Array.from(SOURCE), 0);
  assert.is(dad[14 + 44], 0x20);
  assert.ok(icmpv6Verifies(dad, 14));
});

test.run();
