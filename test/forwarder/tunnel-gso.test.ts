// TunnelGsoTap's refusals, before anything is opened (no root needed): a local address that
// cannot be the outer source, and a host whose strict reverse-path filter would drop every
// super-packet (read from a conf directory the test makes). The egress at work is tested in
// e2e/tunnel-gso.test.ts (root, namespaces, Linux 6.17+).
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { TunnelGsoTap } from '../../src/forwarder/underlay/tunnel-gso';
import { temporaryDirs } from '../helpers/temporary';

const { removeTemporaryDirs, temporaryDir } = temporaryDirs();

function confWithRpFilter(value: string): string {
  const conf = temporaryDir('vxlan-tunnel-gso-');
  mkdirSync(join(conf, 'all'));
  writeFileSync(join(conf, 'all', 'rp_filter'), `${value}\n`);
  return conf;
}

test.after(() => removeTemporaryDirs());

test('the local address must be an IPv4 address of this host, not any or IPv6: a RangeError naming it', () => {
  for (const localAddress of ['0.0.0.0', 'fd00::1']) {
    assert.throws(() => TunnelGsoTap.open({ name: 'vxt.gso', localAddress, confPath: confWithRpFilter('0') }),
      (error: Error) => error instanceof RangeError && error.message.includes(localAddress), localAddress);
  }
});

test('strict reverse-path filtering (all/rp_filter = 1) is refused with the sentence that says what to change', () => {
  const conf = confWithRpFilter('1');
  assert.throws(() => TunnelGsoTap.open({ name: 'vxt.gso', localAddress: '192.0.2.1', confPath: conf }),
    (error: Error) => /rp_filter is 1 \(strict/.test(error.message) && /set it to 2 \(loose\) or 0/.test(error.message));
});

test.run();
