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
