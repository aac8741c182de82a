// The batch ABI numbers must agree between assembly/ (batch.ts, inner.ts, encap.ts) and src/wasm/abi.ts.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync } from 'node:fs';
import * as abi from '../../src/wasm/abi';

function constantsOf(file: string): Map<string, number> {
  const text = readFileSync(new URL(`../../assembly/${file}`, import.meta.url), 'utf8');
  const found = new Map<string, number>();
  for (const match of text.matchAll(/export const (\w+): \w+ = (-?0x[0-9a-f]+|-?\d+);/gi)) found.set(match[1], Number(match[2]));
  return found;
}

test('batch geometry, record fields, slot statuses and counters agree', () => {
  const assembly = constantsOf('batch.ts');
  const names = [...assembly.keys()];
  assert.ok(names.length >= 13, `found ${names.length} constants`);
  for (const name of names) assert.is((abi as Record<string, unknown>)[name], assembly.get(name), name);
});

test('inner checksum results and the offload mode agree', () => {
  const inner = constantsOf('inner.ts');
  for (const name of ['INNER_CHECKSUM_BAD', 'INNER_CHECKSUM_VALID', 'INNER_CHECKSUM_NONE', 'INNER_CHECKSUM_UNSUPPORTED']) {
    assert.is((abi as Record<string, unknown>)[name], inner.get(name), name);
  }
  assert.is(abi.UDP_CHECKSUM_OFFLOAD, constantsOf('encap.ts').get('UDP_CHECKSUM_OFFLOAD'));
});

test('the metadata record extends the decap result record without overlap', () => {
  assert.ok(abi.META_FRAME_OFFSET >= abi.RESULT_SOURCE_PORT + 4);
  assert.ok(abi.META_CSUM_OFFSET + 4 <= abi.META_LEN);
  assert.ok(abi.SLOT_HEADROOM >= 14 + 4 + 40 + 8 + 8, 'room for Ethernet + 802.1Q + IPv6 + UDP + VXLAN');
});

test.run();
