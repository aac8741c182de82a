// NameTable's rules: case and trailing dot, several endpoints behind one alias, rotation, delete,
// and has() (what lets the server tell NODATA from a name that is not ours).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { DnsError, NameTable, normaliseName } from '../../src/dns';

const sorted = (items: string[]) => [...items].sort();

test('names are case-insensitive and a trailing dot is ignored', () => {
  const table = new NameTable();
  table.set('ep1', { names: ['Web-1'], ipv4: ['10.0.9.2'] });
  for (const name of ['web-1', 'WEB-1', 'web-1.', 'Web-1.']) {
    assert.equal(table.resolve(name, 'A'), ['10.0.9.2'], name);
    assert.ok(table.has(name), name);
  }
  assert.equal(table.resolve('web-1..', 'A'), [], 'two dots is no name');
  assert.equal(table.resolve('web', 'A'), [], 'a prefix is not the name');
  assert.equal(table.resolve('web-1.example.com', 'A'), [], 'only the exact name');
  assert.is(normaliseName('A.B.'), 'a.b');
  assert.is(normaliseName('.'), undefined);
  assert.is(normaliseName(`${'x'.repeat(64)}.a`), undefined, 'a label over 63 bytes');
  assert.is(normaliseName('abcdefghi.'.repeat(26)), undefined, 'over 253 bytes (259 without the dot)');
  assert.is(normaliseName(`${'abcdefghi.'.repeat(25)}abc`)?.length, 253, '253 bytes is a name');
});

test('A and AAAA come from the endpoint\'s own lists; a known name without that type resolves to nothing but has() is true', () => {
  const table = new NameTable();
  table.set('ep1', { names: ['db'], ipv4: ['10.0.9.3'] });
  table.set('ep2', { names: ['v6only'], ipv6: ['FD00::3'] });
  assert.equal(table.resolve('db', 'A'), ['10.0.9.3']);
  assert.equal(table.resolve('db', 'AAAA'), []);
  assert.ok(table.has('db'), 'NODATA, not NXDOMAIN: the name exists');
  assert.equal(table.resolve('v6only', 'AAAA'), ['fd00::3'], 'IPv6 text in lower case');
  assert.equal(table.resolve('v6only', 'A'), []);
  assert.not.ok(table.has('nobody'));
  assert.equal(table.resolve('nobody', 'A'), []);
});

test('an alias shared by several endpoints returns every address once, rotating by one per query, A and AAAA apart', () => {
  const table = new NameTable();
  table.set('r1', { names: ['web.1', 'web'], ipv4: ['10.0.9.11'], ipv6: ['fd00::11'] });
  table.set('r2', { names: ['web.2', 'web'], ipv4: ['10.0.9.12'], ipv6: ['fd00::12'] });
  table.set('r3', { names: ['web.3', 'web'], ipv4: ['10.0.9.13', '10.0.9.11'] });
  const firsts: string[] = [];
  for (let i = 0; i < 6; i++) {
    const answer = table.resolve('web', 'A');
    assert.equal(sorted(answer), ['10.0.9.11', '10.0.9.12', '10.0.9.13'], 'all live replicas, a shared address once');
    firsts.push(answer[0]!);
    // A glibc lookup asks AAAA beside A: that must not move the A rotation.
    const v6 = table.resolve('web', 'AAAA');
    assert.equal(sorted(v6), ['fd00::11', 'fd00::12']);
  }
  assert.equal(firsts, ['10.0.9.11', '10.0.9.12', '10.0.9.13', '10.0.9.11', '10.0.9.12', '10.0.9.13'], 'rotation: each replica first in turn');
  // Rotation keeps the cyclic order.
  const answer = table.resolve('web', 'A');
  const start = ['10.0.9.11', '10.0.9.12', '10.0.9.13'].indexOf(answer[0]!);
  assert.equal(answer, [0, 1, 2].map((k) => ['10.0.9.11', '10.0.9.12', '10.0.9.13'][(start + k) % 3]));
  assert.equal(table.resolve('web.2', 'A'), ['10.0.9.12'], 'each replica\'s own name');
});

test('delete and set again: a name leaves with its last endpoint; replacing an entry drops its old names', () => {
  const table = new NameTable();
  table.set('r1', { names: ['web', 'c1'], ipv4: ['10.0.9.11'] });
  table.set('r2', { names: ['web', 'c2'], ipv4: ['10.0.9.12'] });
  assert.is(table.size, 2);
  assert.ok(table.delete('r1'));
  assert.not.ok(table.delete('r1'), 'deleting twice says false');
  assert.is(table.size, 1);
  assert.equal(table.resolve('web', 'A'), ['10.0.9.12']);
  assert.not.ok(table.has('c1'));
  table.set('r2', { names: ['renamed'], ipv4: ['10.0.9.12'] });
  assert.not.ok(table.has('web'), 'the alias went with the last endpoint that had it');
  assert.not.ok(table.has('c2'));
  assert.equal(table.resolve('renamed', 'A'), ['10.0.9.12']);
  assert.is(table.size, 1);
  table.clear();
  assert.is(table.size, 0);
  assert.not.ok(table.has('renamed'));
});

test('bad names and addresses throw DnsError and change nothing', () => {
  const table = new NameTable();
  table.set('ep1', { names: ['keep'], ipv4: ['10.0.9.2'] });
  const cases: Array<[Parameters<NameTable['set']>[1], string, RegExp]> = [
    [{ names: [''], ipv4: ['10.0.9.3'] }, 'BAD_NAME', /"" is not a DNS name/],
    [{ names: ['a..b'] }, 'BAD_NAME', /not a DNS name/],
    [{ names: ['ok'], ipv4: ['fd00::1'] }, 'BAD_ADDRESS', /not an IPv4 address/],
    [{ names: ['ok'], ipv6: ['10.0.9.3'] }, 'BAD_ADDRESS', /not an IPv6 address/],
    [{ names: ['ok'], ipv4: ['10.0.9.300'] }, 'BAD_ADDRESS', /not an IPv4 address/],
  ];
  for (const [entry, code, message] of cases) {
    try {
      table.set('ep1', entry);
      assert.unreachable(`${JSON.stringify(entry)} was accepted`);
    } catch (error) {
      assert.instance(error, DnsError);
      assert.is((error as DnsError).code, code);
      assert.match((error as DnsError).message, message);
    }
    assert.equal(table.resolve('keep', 'A'), ['10.0.9.2'], 'the old entry is still there');
    assert.not.ok(table.has('ok'));
  }
});

test('many endpoints: a change costs the same whatever the table holds', () => {
  const table = new NameTable();
  for (let i = 0; i < 20_000; i++) table.set(`ep${i}`, { names: [`c${i}`, 'svc'], ipv4: [`10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`] });
  const started = performance.now();
  for (let i = 0; i < 20_000; i++) {
    table.set(`x${i}`, { names: [`x${i}`], ipv4: ['10.200.0.1'] });
    table.delete(`x${i}`);
  }
  const elapsedMs = performance.now() - started;
  // A scan of 20 000 entries per change would be 40 000 × 20 000 steps; the maps make it ~40 000.
  assert.ok(elapsedMs < 2000, `40 000 changes took ${elapsedMs.toFixed(0)} ms`);
  assert.is(table.resolve('svc', 'A').length, 20_000);
  assert.is(table.size, 20_000);
});

test.run();
