// Everything assembly/ and src/ share, checked name by name: status codes and layers, option bits,
// record, template and batch layouts, header offsets and their RFC diagrams, and the kernel list.
// assembly/ imports nothing from src/ and cannot be imported from TypeScript, so this reads its
// text: every `export const` must have a src/ counterpart of the same name and value, and every
// number src/ exports for the ABI must exist in assembly/, except the few kernel-only constants
// listed in KERNEL_ONLY.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync } from 'node:fs';
import { DecodeStatus, Layer } from '../src/errors';
import * as abi from '../src/wasm/abi';
import { KERNEL_NAMES } from '../src/wasm/abi';
import { instantiateWasm } from '../src/wasm/loader';
import { scalarWasmBase64, simdWasmBase64 } from '../src/wasm/generated';
import { ReferenceKernels } from '../src/reference/index';
import * as ethernet from '../src/wire/ethernet';
import * as ipv4 from '../src/wire/ipv4';
import * as ipv6 from '../src/wire/ipv6';
import * as udp from '../src/wire/udp';
import * as vxlan from '../src/wire/vxlan';
import { EtherType, IpProtocol } from '../src/wire/protocols';

const KERNEL_ONLY = new Set([
  // decap.ts: where a fast-path IPv4 frame's headers are, and acceptFastIpv4's flag for decapBatch.
  'FAST_L3', 'FAST_IPV4_L4', 'FAST_IPV4_VXLAN', 'FAST_IPV4_INNER', 'FAST_UDP_CHECKSUM_PENDING',
  // inner.ts: the inner TCP header, which has no codec in src/wire.
  'TCP_CHECKSUM', 'TCP_MIN_HEADER_LEN',
  // tso.ts: the rest of the TCP header the offload kernels rewrite.
  'TCP_SEQUENCE', 'TCP_DATA_OFFSET', 'TCP_FLAGS', 'TCP_FLAG_FIN', 'TCP_FLAG_SYN', 'TCP_FLAG_RST', 'TCP_FLAG_PSH',
  'TCP_FLAG_ACK', 'TCP_FLAG_URG', 'TCP_FLAG_ECE', 'TCP_FLAG_CWR',
  // layout/: values as little-endian loads read them (checked against what they encode below).
  'ETHERTYPE_IPV4_LE', 'ETHERTYPE_IPV4_IHL_5_LE', 'VERSION_IHL_5', 'FRAGMENT_BITS_LE',
]);

/** The protocol numbers in assembly/layout/, and their entries in src/wire/protocols.ts. */
const PROTOCOL_NUMBERS: Record<string, number> = {
  ETHERTYPE_IPV4: EtherType.IPv4,
  ETHERTYPE_IPV6: EtherType.IPv6,
  TPID_8021Q: EtherType.VLAN,
  TPID_8021AD: EtherType.QinQ,
  TPID_QINQ_LEGACY: EtherType.VLANDoubleTagged,
  IPPROTO_TCP: IpProtocol.TCP,
  IPPROTO_UDP: IpProtocol.UDP,
  IPPROTO_HOPOPTS: IpProtocol.HopByHop,
  IPPROTO_ROUTING: IpProtocol.Routing,
  IPPROTO_FRAGMENT: IpProtocol.Fragment,
  IPPROTO_DSTOPTS: IpProtocol.DestinationOptions,
};

function readAssembly(file: string): string {
  return readFileSync(new URL(`../assembly/${file}`, import.meta.url), 'utf8');
}

/** `export const NAME: type = value;` with a decimal or hex literal, either sign. */
const CONSTANT = /^export const (\w+)(?::\s*\w+)?\s*=\s*(-?)(0x[0-9a-f_]+|\d[\d_]*)\s*;/i;

/** Every `export const` of an assembly/ file, by name. One that is not a number literal fails. */
function constantsOf(file: string): Map<string, number> {
  const found = new Map<string, number>();
  for (const line of readAssembly(file).split('\n')) {
    if (!line.startsWith('export const ')) continue;
    const match = CONSTANT.exec(line);
    assert.ok(match, `assembly/${file}: not a number literal, so not checkable: ${line}`);
    const [, name, sign, digits] = match!;
    assert.not.ok(found.has(name), `assembly/${file}: ${name} twice`);
    found.set(name, (sign ? -1 : 1) * Number(digits.replace(/_/g, '')));
  }
  assert.ok(found.size > 0, `assembly/${file}: found its constants`);
  return found;
}

function constantsOfAll(files: string[]): Map<string, number> {
  const all = new Map<string, number>();
  for (const file of files) {
    for (const [name, value] of constantsOf(file)) {
      assert.not.ok(all.has(name), `${name} is defined in two of ${files.join(', ')}`);
      all.set(name, value);
    }
  }
  return all;
}

/** The number-valued exports of a src/ module. */
function numbersOf(module: object): Map<string, number> {
  return new Map(Object.entries(module).filter((entry): entry is [string, number] => typeof entry[1] === 'number'));
}

/** Both directions: same names (but the kernel-only ones), same values. */
function assertSameConstants(assembly: Map<string, number>, src: Map<string, number>, srcName: string): void {
  for (const [name, value] of assembly) {
    if (KERNEL_ONLY.has(name) || name in PROTOCOL_NUMBERS) continue;
    assert.ok(src.has(name), `${name} is in assembly/ but not in ${srcName}`);
    assert.is(src.get(name), value, `${name} differs: assembly/ ${value}, ${srcName} ${src.get(name)}`);
  }
  for (const name of src.keys()) assert.ok(assembly.has(name), `${name} is in ${srcName} but not in assembly/`);
}

test('status codes: assembly/status.ts and DecodeStatus (src/errors.ts) name the same codes with the same numbers', () => {
  const statuses = new Map([...constantsOf('status.ts')].filter(([name]) => !name.startsWith('LAYER_')));
  assert.ok(statuses.size >= 17, `found ${statuses.size} status codes`);
  assertSameConstants(statuses, numbersOf(DecodeStatus), 'DecodeStatus');
});

test('layers: LAYER_* in assembly/status.ts and Layer (src/errors.ts), both ways', () => {
  const layers = new Map([...constantsOf('status.ts')].filter(([name]) => name.startsWith('LAYER_')));
  const srcLayers = new Map(Object.entries(Layer).map(([name, value]) => [`LAYER_${name.toUpperCase()}`, value]));
  assertSameConstants(layers, srcLayers, 'Layer');
});

test('option bits, result record, template, batch geometry and inner checksum results: assembly/ and src/wasm/abi.ts', () => {
  const assembly = constantsOfAll(['decap.ts', 'encap.ts', 'batch.ts', 'inner.ts', 'tso.ts', 'gro.ts']);
  assert.ok(assembly.size >= 50, `found ${assembly.size} constants`);
  assertSameConstants(assembly, numbersOf(abi), 'src/wasm/abi.ts');
});

const HEADERS = [
  ['ethernet', ethernet],
  ['ipv4', ipv4],
  ['ipv6', ipv6],
  ['udp', udp],
  ['vxlan', vxlan],
] as const;

for (const [header, codec] of HEADERS) {
  test(`${header} offsets: assembly/layout/${header}.ts and src/wire/${header}.ts`, () => {
    assertSameConstants(constantsOf(`layout/${header}.ts`), numbersOf(codec), `src/wire/${header}.ts`);
  });

  test(`${header}: one RFC diagram, the same text in assembly/layout/${header}.ts and src/wire/${header}.ts`, () => {
    const assemblyDiagram = diagramOf(readAssembly(`layout/${header}.ts`));
    const srcDiagram = diagramOf(readFileSync(new URL(`../src/wire/${header}.ts`, import.meta.url), 'utf8'));
    assert.ok(assemblyDiagram.length >= 5, `assembly/layout/${header}.ts has a diagram`);
    assert.equal(assemblyDiagram, srcDiagram);
  });
}

/** The diagram lines of a file's comments (rulers, borders and field rows), prefix and indent removed. */
function diagramOf(text: string): string[] {
  return text
    .split('\n')
    .map((line) => line.replace(/^\s*(\/\/|\*)/, '').trim())
    .filter((line) => /^[+|]/.test(line) || /^0(\s+\d)+$/.test(line) || /^0\s+1\s+2\s+3$/.test(line));
}

test('protocol numbers in assembly/layout/ are the ones src/wire/protocols.ts names', () => {
  const layout = constantsOfAll(['layout/ethernet.ts', 'layout/ipv4.ts', 'layout/ipv6.ts', 'layout/udp.ts', 'layout/vxlan.ts']);
  for (const [name, value] of layout) {
    if (/^(ETHERTYPE|TPID|IPPROTO)_/.test(name) && !KERNEL_ONLY.has(name)) {
      assert.ok(name in PROTOCOL_NUMBERS, `${name} has no entry in PROTOCOL_NUMBERS`);
      assert.is(value, PROTOCOL_NUMBERS[name], name);
    }
  }
  for (const name of Object.keys(PROTOCOL_NUMBERS)) assert.ok(layout.has(name), `${name} is not in assembly/layout/`);
});

test('the kernel-only little-endian encodings encode the constants they stand for', () => {
  const ethernetLayout = constantsOf('layout/ethernet.ts');
  const ipv4Layout = constantsOf('layout/ipv4.ts');
  const swap16 = (value: number) => ((value & 0xff) << 8) | (value >> 8);
  assert.is(ethernetLayout.get('ETHERTYPE_IPV4_LE'), swap16(EtherType.IPv4));
  assert.is(ethernetLayout.get('ETHERTYPE_IPV4_IHL_5_LE'), (ipv4Layout.get('VERSION_IHL_5')! << 16) | swap16(EtherType.IPv4));
  assert.is(ipv4Layout.get('VERSION_IHL_5'), (4 << 4) | (ipv4.IPV4_MIN_HEADER_LEN / 4));
  assert.is(ipv4Layout.get('FRAGMENT_BITS_LE'), swap16(ipv4.IPV4_FLAG_MORE_FRAGMENTS | ipv4.IPV4_FRAGMENT_OFFSET_MASK));
});

test('the WASM builds export KERNEL_NAMES, in order, and only memory, reserve and simdEnabled besides', () => {
  for (const base64 of [simdWasmBase64, scalarWasmBase64]) {
    const exports = WebAssembly.Module.exports(new WebAssembly.Module(Buffer.from(base64, 'base64')));
    const names = exports.map((entry) => entry.name);
    assert.equal(names.filter((name) => !['memory', 'reserve', 'simdEnabled'].includes(name)), [...KERNEL_NAMES]);
    assert.equal(names.filter((name) => ['memory', 'reserve', 'simdEnabled'].includes(name)).sort(), ['memory', 'reserve', 'simdEnabled']);
    for (const entry of exports) assert.is(entry.kind, entry.name === 'memory' ? 'memory' : 'function', entry.name);
  }
});

test('each backend has every kernel: own properties of a WASM instance, methods of the reference', () => {
  for (const build of ['wasm-simd', 'wasm-scalar'] as const) {
    const kernels = instantiateWasm(build);
    for (const name of KERNEL_NAMES) {
      assert.ok(Object.hasOwn(kernels, name), `${build}: ${name} is an own property`);
      assert.type(kernels[name], 'function', `${build}: ${name}`);
    }
  }
  const reference = new ReferenceKernels();
  for (const name of KERNEL_NAMES) assert.type(reference[name], 'function', `reference: ${name}`);
});

test('the metadata record extends the decap result record without overlap', () => {
  assert.ok(abi.META_FRAME_OFFSET >= abi.RESULT_SOURCE_PORT + 4);
  assert.ok(abi.META_CSUM_OFFSET + 4 <= abi.META_LEN);
  assert.ok(abi.SLOT_HEADROOM >= 14 + 4 + 40 + 8 + 8, 'room for Ethernet + 802.1Q + IPv6 + UDP + VXLAN');
});

test('the encap template has room for its run record and header block, and the block fits the headroom', () => {
  // encapBatch stores the run record (64 bytes) over META_* up to META_CSUM_START, and copies the
  // header block (the template's last HEADER_BLOCK_LEN bytes) into the headroom.
  assert.is(abi.META_CSUM_START + 4, 64);
  assert.ok(abi.TEMPLATE_RUN_KEY >= abi.TEMPLATE_RUN_UDP_SUM + 4 && abi.TEMPLATE_RUN_RECORD >= abi.TEMPLATE_RUN_KEY + 8);
  assert.ok(abi.TEMPLATE_RUN_RECORD + 64 <= abi.TEMPLATE_HEADER_AREA);
  assert.ok(abi.TEMPLATE_LEN - abi.HEADER_BLOCK_LEN >= abi.TEMPLATE_HEADER_AREA);
  assert.ok(abi.HEADER_BLOCK_LEN <= abi.SLOT_HEADROOM);
  assert.ok(abi.HEADER_BLOCK_LEN >= 14 + 4 + 40 + 8 + 8 && abi.HEADER_BLOCK_LEN_IPV4 >= 14 + 4 + 20 + 8 + 8);
});

test.run();
