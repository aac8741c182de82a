// The image every Docker test host has (test/helpers/docker-hosts.ts), made offline: a rootfs with
// busybox-static's binary and a link to it per applet, as a tarball for `docker import`.
import { chmodSync, copyFileSync, existsSync, mkdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { run } from './netns';

/** busybox-static's binary: static, so it runs in an image with no libc. */
export const BUSYBOX = '/bin/busybox';

/** The image every host has, made from BUSYBOX and its applet links. */
export const BUSYBOX_IMAGE = 'local/busybox';

/** The busybox rootfs as a tarball (made once per lab, in `dir`): the static busybox binary and a link to it per applet. */
export function busyboxTarball(dir: string): string {
  const tarball = join(dir, 'busybox.tar');
  if (existsSync(tarball)) return tarball;
  const rootfs = join(dir, 'rootfs');
  for (const sub of ['bin', 'etc', 'tmp', 'proc', 'sys', 'dev', 'root', 'var/www']) mkdirSync(join(rootfs, sub), { recursive: true });
  copyFileSync(BUSYBOX, join(rootfs, 'bin/busybox'));
  chmodSync(join(rootfs, 'bin/busybox'), 0o755);
  chmodSync(join(rootfs, 'tmp'), 0o1777);
  const applets = run(BUSYBOX, ['--list']).split('\n').filter((name) => /^[\w.[-]+$/.test(name) && name !== 'busybox');
  for (const applet of applets) symlinkSync('busybox', join(rootfs, 'bin', applet));
  // A user database, so `id`, `httpd` and `--user` have names to go by.
  writeFileSync(join(rootfs, 'etc/passwd'), 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n');
  writeFileSync(join(rootfs, 'etc/group'), 'root:x:0:\nnogroup:x:65534:\n');
  run('tar', ['-C', rootfs, '-cf', tarball, '.']);
  rmSync(rootfs, { recursive: true, force: true });
  return tarball;
}
