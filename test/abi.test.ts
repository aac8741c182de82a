// The numbers shared by assembly/ and src/ must agree: status codes, layers, option bits,
// record and template layouts. assembly/ cannot be imported from TypeScript, so read its text.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync } from 'node:fs';
import { DecodeStatus, Layer } from '../src/errors';
import * as abi from '../src/wasm/abi';

function constantsOf(file: string): Map<string, number> {
  const text = readFileSync(new URL(`../assembly/${file}`, import.meta.url), 'utf8');
  const found = new Map<string, number>();
  for (const match of text.matchAll(/export const (\w+): \w+ = (0x[0-9a-f]+|\d+);/gi)) {
    found.set(match[1], Number(match[2]));
  }
  return found;
}

test('every status code has the same number in assembly/status.ts and src/errors.ts', () => {
  const assembly = constantsOf('status.ts');
  for (const [name, value] of Object.entries(DecodeStatus)) {
    assert.is(assembly.get(name), value, name);
  }
  const statusNames = [...assembly.keys()].filter((name) => !name.startsWith('LAYER_'));
  assert.equal(statusNames.sort(), Object.keys(DecodeStatus).sort());
});

test('layer numbers agree', () => {
  const assembly = constantsOf('status.ts');
  for (const [name, value] of Object.entries(Layer)) {
    assert.is(assembly.get(`LAYER_${name.toUpperCase()}`), value, name);
  }
});

test('decap option bits and result record offsets agree', () => {
  const assembly = constantsOf('decap.ts');
  const names = [...assembly.keys()].filter((name) => name.startsWith('DECAP_') || name.startsWith('RESULT_'));
  assert.ok(names.length >= 15, 'found the constants');
  for (const name of names) assert.is((abi as Record<string, unknown>)[name], assembly.get(name), name);
});

test('encap template layout agrees', () => {
  const assembly = constantsOf('encap.ts');
  const names = [...assembly.keys()].filter((name) => name.startsWith('TEMPLATE_') || name.startsWith('UDP_CHECKSUM_'));
  assert.ok(names.length >= 14, 'found the constants');
  for (const name of names) assert.is((abi as Record<string, unknown>)[name], assembly.get(name), name);
});

test.run();
