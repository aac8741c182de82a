// Bad arguments to the public API get a TypeError or RangeError that names the argument, never
// an engine message from deep inside, never a silently different result.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  checksum, completeInnerChecksum, createKernels, decapsulate, Decapsulator, encapsulate, Encapsulator,
  onesComplementSum, PacketBatch, verifyInnerChecksum,
} from '../../src/index';
import { buildTunnelTemplate } from '../../src/batch/template';
import { DECAP_CHECK_VNI, DECAP_STRICT } from '../../src/wasm/abi';
import { innerFrame, ipv4Tunnel, ipv6Tunnel } from '../helpers/frames';

const ipv4Frame = () => encapsulate(innerFrame(60), ipv4Tunnel());

/** Assert that `run` throws an instance of `Type` whose message matches `message`. */
function throwsTyped(run: () => unknown, Type: typeof TypeError | typeof RangeError, message: RegExp, what: string): void {
  try {
    run();
  } catch (error) {
    assert.ok(error instanceof Type, `${what}: expected ${Type.name}, got ${String(error)}`);
    assert.match((error as Error).message, message, what);
    return;
  }
  assert.unreachable(`${what}: accepted`);
}

test('boolean tunnel options take booleans only: a string or number is a TypeError naming the option', () => {
  const bad: [string, Record<string, unknown>][] = [
    ['udpChecksum', { udpChecksum: 'yes' }], ['udpChecksum', { udpChecksum: 0 }], ['udpChecksum', { udpChecksum: null }],
    ['dontFragment', { dontFragment: 'true' }], ['dontFragment', { dontFragment: 1 }],
    ['gbp.dontLearn', { gbp: { group: 1, dontLearn: 'yes' } }], ['gbp.policyApplied', { gbp: { group: 1, policyApplied: 1 } }],
    ['gbp', { gbp: 5 }], ['vlan', { vlan: 'ten' }],
  ];
  for (const [name, override] of bad) {
    for (const tunnel of [ipv4Tunnel(override), ipv6Tunnel(override)]) {
      const what = `${name} = ${JSON.stringify(Object.values(override)[0])}`;
      throwsTyped(() => encapsulate(innerFrame(60), tunnel), TypeError, new RegExp(`^${name.replace('.', '\\.')} must be`), `encapsulate, ${what}`);
      throwsTyped(() => buildTunnelTemplate(tunnel), TypeError, new RegExp(`^${name.replace('.', '\\.')} must be`), `buildTunnelTemplate, ${what}`);
      throwsTyped(() => new Encapsulator(tunnel), TypeError, new RegExp(`^${name.replace('.', '\\.')} must be`), `Encapsulator, ${what}`);
    }
  }
  // The booleans still do what they say.
  const zero = encapsulate(innerFrame(60), ipv4Tunnel({ udpChecksum: false, dontFragment: true }));
  assert.is(decapsulate(zero).udp.checksum, 0);
  assert.is((decapsulate(zero).ip as { dontFragment: boolean }).dontFragment, true);
  const gbp = decapsulate(encapsulate(innerFrame(60), ipv4Tunnel({ gbp: { group: 7, dontLearn: true, policyApplied: false } })), { gbp: true });
  assert.equal(gbp.vxlan.gbp, { group: 7, dontLearn: true, policyApplied: false });
});

test('kernels must come from createKernels(): anything else is a TypeError saying so', () => {
  const message = /^kernels must be a Kernels instance from createKernels\(\)$/;
  for (const kernels of [{}, null, 'wasm-simd', { ...createKernels('reference') }]) {
    const what = `kernels = ${JSON.stringify(kernels)}`;
    throwsTyped(() => new PacketBatch({ kernels: kernels as never }), TypeError, message, `PacketBatch, ${what}`);
    throwsTyped(() => new Encapsulator(ipv4Tunnel(), { kernels: kernels as never }), TypeError, message, `Encapsulator, ${what}`);
    throwsTyped(() => new Decapsulator({ kernels: kernels as never }), TypeError, message, `Decapsulator, ${what}`);
  }
});

test('run() takes a PacketBatch of its own kernels: a TypeError naming batch otherwise', () => {
  const kernels = createKernels('reference');
  const encapsulator = new Encapsulator(ipv4Tunnel(), { kernels });
  const decapsulator = new Decapsulator({ kernels });
  for (const batch of [{}, null, undefined, new Uint8Array(64)]) {
    throwsTyped(() => encapsulator.run(batch as never), TypeError, /^batch must be a PacketBatch$/, `Encapsulator.run(${String(batch)})`);
    throwsTyped(() => decapsulator.run(batch as never), TypeError, /^batch must be a PacketBatch$/, `Decapsulator.run(${String(batch)})`);
  }
  const elsewhere = new PacketBatch({ capacity: 1, kernels: createKernels('reference') });
  throwsTyped(() => encapsulator.run(elsewhere), TypeError, /^batch lives in another kernels instance than this Encapsulator/, 'Encapsulator.run(other kernels)');
  throwsTyped(() => decapsulator.run(elsewhere), TypeError, /^batch lives in another kernels instance than this Decapsulator/, 'Decapsulator.run(other kernels)');
});

/** A Uint8Array whose ArrayBuffer has been transferred away (what postMessage does). */
function detached(bytes: Uint8Array): Uint8Array {
  structuredClone(bytes.buffer, { transfer: [bytes.buffer] });
  assert.is(bytes.byteLength, 0, 'the view is detached');
  return bytes;
}

test('a detached buffer is a TypeError "<argument> is detached" everywhere bytes are taken', () => {
  const batch = new PacketBatch({ capacity: 1 });
  const calls: [string, string, (bytes: Uint8Array) => unknown][] = [
    ['encapsulate', 'inner', (bytes) => encapsulate(bytes, ipv4Tunnel())],
    ['decapsulate', 'frame', (bytes) => decapsulate(bytes)],
    ['checksum', 'data', (bytes) => checksum(bytes)],
    ['onesComplementSum', 'data', (bytes) => onesComplementSum(bytes)],
    ['PacketBatch.writeInner', 'frame', (bytes) => batch.writeInner(0, bytes)],
    ['PacketBatch.writeFrame', 'frame', (bytes) => batch.writeFrame(0, bytes)],
    ['verifyInnerChecksum', 'frame', (bytes) => verifyInnerChecksum(bytes)],
    ['completeInnerChecksum', 'frame', (bytes) => completeInnerChecksum(bytes, 34, 6)],
  ];
  for (const [name, argument, call] of calls) {
    throwsTyped(() => call(detached(ipv4Frame())), TypeError, new RegExp(`^${argument} is detached`), name);
    const frame = ipv4Frame();
    const view = frame.subarray(10, 60); // a view at an offset, detached with its buffer
    detached(frame);
    throwsTyped(() => call(view), TypeError, new RegExp(`^${argument} is detached`), `${name} (a view at an offset)`);
  }
  // An empty view of a live buffer is not detached: it is just empty.
  assert.is(checksum(new Uint8Array(0)), 0xffff);
  assert.is(onesComplementSum(new Uint8Array(10).subarray(5, 5)), 0);
  assert.throws(() => decapsulate(new Uint8Array(0)), /TRUNCATED/);
});

test('setPartialChecksum: the checksum field must lie inside the inner frame, else a RangeError naming the argument', () => {
  const kernels = createKernels('reference');
  const batch = new PacketBatch({ capacity: 2, kernels });
  batch.writeInner(0, innerFrame(100));
  throwsTyped(() => batch.setPartialChecksum(0, 99999, 2), RangeError, /^csumStart 99999 /, 'csumStart past the end');
  throwsTyped(() => batch.setPartialChecksum(0, 99, 0), RangeError, /^csumStart 99 /, 'csumStart one byte short of a field');
  throwsTyped(() => batch.setPartialChecksum(0, 34, 65), RangeError, /^csumOffset 65 /, 'csumOffset past the end');
  throwsTyped(() => batch.setPartialChecksum(1, 34, 6), RangeError, /0-byte inner frame \(call setInner first\)/, 'before setInner');
  batch.setPartialChecksum(0, 34, 64); // the field is the frame's last two bytes
  batch.setPartialChecksum(0, 98, 0);
  batch.setPartialChecksum(0, 34, 16);
});

test('DecapSettings names its bitmask optionBits (not "options", which DecapOptions is)', () => {
  const strict = new Decapsulator({ kernels: createKernels('reference') }).settings;
  const lax = new Decapsulator({ kernels: createKernels('reference'), strict: false, vni: 5 }).settings;
  assert.equal(Object.keys(strict).sort(), ['optionBits', 'portsHigh', 'portsLow', 'vni']);
  assert.is(strict.optionBits & DECAP_STRICT, DECAP_STRICT);
  assert.is(lax.optionBits & DECAP_STRICT, 0);
  assert.is(lax.optionBits & DECAP_CHECK_VNI, DECAP_CHECK_VNI);
});

test('boolean decapsulation options take booleans only (strict: "false" would mean strict)', () => {
  const frame = ipv4Frame();
  const kernels = createKernels('reference');
  for (const name of ['strict', 'verifyChecksums', 'allowZeroUdpChecksumIpv6', 'gbp']) {
    for (const value of ['false', 0, 1, null]) {
      const options = { [name]: value } as never;
      const message = new RegExp(`^${name} must be a boolean`);
      throwsTyped(() => decapsulate(frame, options), TypeError, message, `decapsulate, ${name} = ${JSON.stringify(value)}`);
      throwsTyped(() => new Decapsulator({ ...(options as object), kernels }), TypeError, message, `Decapsulator, ${name} = ${JSON.stringify(value)}`);
    }
  }
  assert.is(decapsulate(frame, { strict: false, verifyChecksums: false, gbp: true, allowZeroUdpChecksumIpv6: true }).vxlan.vni, 0x123456);
});

test.run();
