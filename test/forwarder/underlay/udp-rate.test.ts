// UdpUnderlay loopback rate: a child process sends batches of 64 datagrams of 1450 bytes with
// transmit() (one sendmmsg each) as fast as it can; this process receives them with receive()
// on wake-ups. Prints datagrams/s both ways. Short by default (0.5 s); for the figure:
//   UDP_RATE_SECONDS=2 npx uvu -r tsx test 'underlay/udp-rate'
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PacketBatch } from '../../../src/batch/index';
import { UdpUnderlay } from '../../../src/forwarder/underlay/udp';
import { temporaryDirs } from '../../helpers/temporary';

const { removeTemporaryDirs, temporaryDir } = temporaryDirs();

const root = fileURLToPath(new URL('../../..', import.meta.url));
const seconds = Number(process.env.UDP_RATE_SECONDS ?? 0.5);
/** Sender processes (more than one finds the receiver's ceiling when one sender is the limit). */
const senders = Number(process.env.UDP_RATE_SENDERS ?? 1);
const DATAGRAM = 1450;
const BATCH = 64;

const SENDER = (port: number) => `
import { PacketBatch } from ${JSON.stringify(join(root, 'src/batch/index.ts'))};
import { UdpUnderlay } from ${JSON.stringify(join(root, 'src/forwarder/underlay/udp.ts'))};
const u = UdpUnderlay.open({ address: '127.0.0.1', port: 0 });
u.setEndpoint(0, { address: '127.0.0.1', port: ${port} });
const batch = new PacketBatch({ capacity: ${BATCH} });
for (let i = 0; i < ${BATCH}; i++) { batch.payload(i).fill(i); batch.setInner(i, ${DATAGRAM - 8}, 0); }
const slots = Int32Array.from({ length: ${BATCH} }, (_, i) => i);
const destinations = new Int32Array(${BATCH});
const end = Date.now() + ${seconds * 1000};
let calls = 0;
while (Date.now() < end) { u.transmit(batch, slots, destinations, ${BATCH}); calls++; }
console.log(JSON.stringify({ calls, sent: u.counters.sent, sendErrors: u.counters.sendErrors }));
await u.close();
`;

test(`loopback: ${DATAGRAM}-byte datagrams in batches of ${BATCH} for ${seconds} s`, async () => {
  const b = UdpUnderlay.open({ address: '127.0.0.1', port: 0 });
  const batch = new PacketBatch({ capacity: 256 });
  const sources = new Int32Array(256);
  let received = 0;
  let bytes = 0;
  let scheduled = false;
  const failures: Error[] = [];
  const drain = () => {
    scheduled = false;
    for (;;) {
      const n = b.receive(batch, 0, 256, sources);
      for (let i = 0; i < n; i++) bytes += batch.frameLength(i);
      received += n;
      if (n < 256) break;
    }
  };
  b.start({
    wake() { if (!scheduled) { scheduled = true; setImmediate(drain); } },
    fail(error) { failures.push(error); },
    admit() { return 0; },
  });
  try {
    const file = join(temporaryDir('vxlan-rate-'), 'sender.mts');
    writeFileSync(file, SENDER(b.localPort));
    const started = process.hrtime.bigint();
    let output = '';
    await Promise.all(Array.from({ length: senders }, () => {
      const sender = spawn(process.execPath, ['--import', 'tsx', file], { cwd: root, stdio: ['ignore', 'pipe', 'inherit'] });
      sender.stdout.on('data', (chunk) => { output += chunk; });
      return new Promise((resolve) => sender.on('exit', resolve));
    }));
    await new Promise((resolve) => setTimeout(resolve, 100)); // the last datagrams in flight
    drain();
    const elapsed = Number(process.hrtime.bigint() - started) / 1e9;
    const sent = { calls: 0, sent: 0, sendErrors: 0 };
    for (const line of output.trim().split('\n')) {
      const one = JSON.parse(line);
      sent.calls += one.calls;
      sent.sent += one.sent;
      sent.sendErrors += one.sendErrors;
    }
    const window = seconds; // the sender's sending time
    console.log(`  udp loopback ${DATAGRAM} B x ${BATCH}: ${senders} sender(s) ${(sent.sent / window / 1e3).toFixed(0)} k datagrams/s `
      + `(${sent.calls} sendmmsg calls, ${sent.sendErrors} refused), receiver ${(received / window / 1e3).toFixed(0)} k datagrams/s `
      + `= ${((bytes * 8) / window / 1e9).toFixed(2)} Gbit/s of UDP payload, ${(100 * (1 - received / sent.sent)).toFixed(1)}% lost in the kernel `
      + `(process ${elapsed.toFixed(2)} s with startup)`);
    assert.ok(received > 0);
    assert.ok(received <= sent.sent);
    assert.is(b.counters.oversize, 0);
    assert.equal(failures, []);
  } finally {
    await b.close();
  }
});

test.after(removeTemporaryDirs);
test.run();
