// The inner-frame summary of `vxlan-wasm decode`: any bytes, cut anywhere, give a summary as far
// as they go and never an exception.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { formatInnerSummary, summarizeInner } from '../../src/cli/inner-summary';
import { innerArpRequest, innerFrame } from '../helpers/frames';
import { prng, randomBytes, randomInt } from '../helpers/random';

const frames = {
  arp: innerArpRequest(),
  tcp4: innerFrame({ transport: 'tcp', payloadLen: 9, vlan: 5 }),
  udp6: innerFrame({ ipVersion: 6, payloadLen: 20 }),
  icmp6: innerFrame({ ipVersion: 6, transport: 'icmp', payloadLen: 4 }),
};

test('every prefix of a valid frame: no exception, and a cut inside a header is named', () => {
  for (const [name, frame] of Object.entries(frames)) {
    const whole = summarizeInner(frame);
    assert.is(whole.truncated, undefined, name);
    for (let cut = 0; cut < frame.length; cut++) {
      const summary = summarizeInner(frame.subarray(0, cut));
      assert.is(summary.length, cut);
      assert.type(formatInnerSummary(summary), 'string');
      if (cut < 14) assert.ok(summary.truncated !== undefined, `${name} cut at ${cut}`);
    }
  }
  // Cut inside the TCP header (Ethernet 14 + tag 4 + IPv4 20 + 10 of TCP's 20): named, addresses kept.
  const cut = summarizeInner(frames.tcp4.subarray(0, 48));
  assert.is(cut.truncated, 'tcp');
  assert.is(cut.ip?.source, '10.9.0.1');
  assert.equal(cut.vlans, [5]);
});

test('random bytes, and valid frames with random bytes flipped: never an exception', () => {
  const random = prng(8);
  for (let i = 0; i < 20000; i++) {
    const base = Object.values(frames)[i % 4];
    const bytes = i % 2 === 0 ? randomBytes(randomInt(random, 0, 120), random) : base.slice();
    if (i % 2 === 1) for (let flips = 0; flips < 3; flips++) bytes[randomInt(random, 0, bytes.length - 1)] ^= randomInt(random, 1, 255);
    const summary = summarizeInner(bytes);
    assert.is(summary.length, bytes.length);
    formatInnerSummary(summary);
  }
});

test('the fields of each kind of frame', () => {
  assert.equal(summarizeInner(frames.tcp4).tcp, { sourcePort: 12345, destinationPort: 8080, flags: 'P.', payloadLength: 9 });
  assert.equal(summarizeInner(frames.udp6).udp, { sourcePort: 12345, destinationPort: 8080, length: 28 });
  assert.equal(summarizeInner(frames.icmp6).icmp, { version: 6, type: 128, code: 0, name: 'echo request' });
  const arp = summarizeInner(frames.arp).arp!;
  assert.is(arp.operationName, 'request');
  assert.match(formatInnerSummary(summarizeInner(frames.arp)), new RegExp(`ARP request who-has ${arp.targetIp} tell ${arp.senderIp}$`));
  // An IEEE 802.3 length instead of an EtherType.
  const llc = innerFrame({ etherType: 46, payloadLen: 46 });
  assert.is(summarizeInner(llc).etherTypeName, '802.3 length 46');
});

test.run();
