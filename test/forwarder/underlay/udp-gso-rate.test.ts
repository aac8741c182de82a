// UdpUnderlay loopback rate with UDP GSO and GRO on and off, in one run: a child process sends
// batches of 64 datagrams of 1450 bytes with transmit() as fast as it can (one sendmmsg per call;
// with GSO, runs of equal datagrams go as UDP_SEGMENT messages), this process receives them with
// receive() on wake-ups (with GRO a GSO burst arrives coalesced and is split in receive()).
// Loopback never segments a GSO message, so with GRO on at the receiver it is handed over whole.
// Short by default (0.5 s per setting); for the figures:
//   UDP_RATE_SECONDS=2 npx uvu -r tsx test 'underlay/udp-gso-rate'
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
const DATAGRAM = 1450;
const BATCH = 64;

const SENDER = `
import { PacketBatch } from ${JSON.stringify(join(root, 'src/batch/index.ts'))};
import { UdpUnderlay } from ${JSON.stringify(join(root, 'src/forwarder/underlay/udp.ts'))};
const [port, gso] = [Number(process.argv[2]), process.argv[3] === 'true'];
const u = UdpUnderlay.open({ address: '127.0.0.1', port: 0, gso });
u.setEndpoint(0, { address: '127.0.0.1', port });
const batch = new PacketBatch({ capacity: ${BATCH} });
for (let i = 0; i < ${BATCH}; i++) { batch.payload(i).fill(i); batch.setInner(i, ${DATAGRAM - 8}, 0); }
const slots = Int32Array.from({ length: ${BATCH} }, (_, i) => i);
const destinations = new Int32Array(${BATCH});
const started = performance.now();
const end = Date.now() + ${seconds * 1000};
let calls = 0;
while (Date.now() < end) { u.transmit(batch, slots, destinations, ${BATCH}); calls++; }
const ms = performance.now() - started;
console.log(JSON.stringify({ calls, ms, sent: u.counters.sent, sendErrors: u.counters.sendErrors, cpu: process.cpuUsage(), ...u.offloadCounters }));
await u.close();
`;

const results: string[] = [];

for (const [gso, gro] of [[false, false], [true, false], [false, true], [true, true]] as const) {
  test(`loopback: ${DATAGRAM}-byte datagrams in batches of ${BATCH}, GSO ${gso ? 'on' : 'off'}, GRO ${gro ? 'on' : 'off'}`, async () => {
    const receiver = UdpUnderlay.open({ address: '127.0.0.1', port: 0, gro });
    const batch = new PacketBatch({ capacity: 256 });
    const sources = new Int32Array(256);
    let received = 0;
    let scheduled = false;
    const failures: Error[] = [];
    const drain = () => {
      scheduled = false;
      for (;;) {
        const n = receiver.receive(batch, 0, 256, sources);
        received += n;
        if (n < 256) break;
      }
    };
    receiver.start({
      wake() {
        if (!scheduled) {
          scheduled = true;
          setImmediate(drain);
        }
      },
      fail(error) {
        failures.push(error);
      },
      admit() {
        return 0;
      },
    });
    try {
      const file = join(temporaryDir('vxlan-gso-rate-'), 'sender.mts');
      writeFileSync(file, SENDER);
      let output = '';
      const cpuBefore = process.cpuUsage();
      const sender = spawn(process.execPath, ['--import', 'tsx', file, String(receiver.localPort), String(gso)], { cwd: root, stdio: ['ignore', 'pipe', 'inherit'] });
      sender.stdout.on('data', (chunk) => {
        output += chunk;
      });
      await new Promise((resolve) => sender.on('exit', resolve));
      await new Promise((resolve) => setTimeout(resolve, 100)); // the last datagrams in flight
      drain();
      const receiverCpu = process.cpuUsage(cpuBefore);
      const sent = JSON.parse(output.trim()) as { calls: number; ms: number; sent: number; sendErrors: number; gsoMessages: number };
      const line = `GSO ${gso ? 'on ' : 'off'} GRO ${gro ? 'on ' : 'off'}: sender ${(sent.sent / seconds / 1e6).toFixed(2)} M datagrams/s `
        + `(${sent.calls} transmit calls, ${sent.gsoMessages} GSO messages, ${sent.sendErrors} refused), `
        + `receiver ${(received / seconds / 1e6).toFixed(2)} M datagrams/s (${receiver.offloadCounters.groMessages} coalesced), `
        + `${(100 * (1 - received / Math.max(1, sent.sent))).toFixed(1)}% lost in the kernel, receiver CPU ${((receiverCpu.user + receiverCpu.system) / 1e3).toFixed(0)} ms`;
      console.log(`  ${line}`);
      results.push(line);
      assert.ok(received > 0);
      assert.ok(received <= sent.sent);
      assert.is(receiver.counters.oversize, 0);
      if (gso) assert.ok(sent.gsoMessages > 0);
      else assert.is(sent.gsoMessages, 0);
      assert.equal(failures, []);
    } finally {
      await receiver.close();
    }
  });
}

test.after(() => {
  console.log(`\n  UDP loopback, ${DATAGRAM}-byte datagrams, ${seconds} s each:\n  ${results.join('\n  ')}`);
  removeTemporaryDirs();
});
test.run();
