// The UDP underlay's endpoint table on its own: a source sockaddr maps to the id its endpoint
// was given without asking the forwarder; a source never seen is asked for once (admitted or
// refused, then remembered); an id given up forgets its sources; the other family is refused.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as C from '../../../src/forwarder/io/libc';
import { SourceTable } from '../../../src/forwarder/underlay/source-table';
import { parseIp } from '../../../src/wire/address';

/** A sockaddr of `address`:`port` as the reader stores a source (bytes and the same memory as i32s). */
function sockaddr(address: string, port: number): { b: Uint8Array; w: Int32Array } {
  const buffer = new ArrayBuffer(C.SOCKADDR_ROOM);
  const b = new Uint8Array(buffer);
  C.writeSockaddr(b, 0, parseIp(address).bytes, port);
  return { b, w: new Int32Array(buffer) };
}

test('an endpoint set is found by its sockaddr, IPv4 and IPv6, without asking the forwarder', () => {
  for (const [family, address] of [[4, '192.0.2.7'], [6, '2001:db8::7']] as const) {
    const asked: string[] = [];
    const table = new SourceTable(family, 'local', (e) => { asked.push(e.address); return -1; });
    table.setEndpoint(5, { address, port: 4789 });
    assert.ok(table.endpointAddress[5] > 0, 'a destination sockaddr address');
    const s = sockaddr(address, 4789);
    assert.is(table.sourceOfSockaddr(s.b, s.w, 0), 5);
    assert.equal(asked, []);
  }
});

test('a source never seen is asked for once: admitted ones and refused ones are remembered', () => {
  const asked: string[] = [];
  const table = new SourceTable(4, 'local', (e) => { asked.push(`${e.address}:${e.port}`); return e.address === '192.0.2.1' ? 9 : -1; });
  const good = sockaddr('192.0.2.1', 40000);
  const bad = sockaddr('192.0.2.2', 40000);
  for (let i = 0; i < 3; i++) {
    assert.is(table.sourceOfSockaddr(good.b, good.w, 0), 9);
    assert.is(table.sourceOfSockaddr(bad.b, bad.w, 0), -1);
  }
  assert.equal(asked, ['192.0.2.1:40000', '192.0.2.2:40000']);
});

test('an id given up forgets its sources; an endpoint of the other family is refused', () => {
  let answer = -1;
  const table = new SourceTable(4, '0.0.0.0', () => answer);
  table.setEndpoint(3, { address: '192.0.2.3', port: 4789 });
  const s = sockaddr('192.0.2.3', 4789);
  assert.is(table.sourceOfSockaddr(s.b, s.w, 0), 3);
  table.setEndpoint(3, undefined);
  assert.is(table.endpointAddress[3], 0);
  answer = 4;
  assert.is(table.sourceOfSockaddr(s.b, s.w, 0), 4, 'asked again once forgotten');
  assert.throws(() => table.setEndpoint(1, { address: '2001:db8::1', port: 4789 }), /IPv6 but this underlay is IPv4 \(0\.0\.0\.0\)/);
});

test.run();
