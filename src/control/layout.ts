/**
 * The layout check: version 1 of the key layout (one address per host, no endpoints) cannot be
 * read as version 2, and guessing a migration of live registrations would race the version-1
 * agents still running. So a store that holds version 1 keys is refused, once per client, with
 * the sentence that says what to do; version 1 networks are few and made again in one command.
 */
import type { Etcd3 } from 'etcd3';
import { V1_ROOT } from './keys';

export class LayoutError extends Error {
  override readonly name = 'LayoutError';
  readonly code = 'OLD_LAYOUT';
}

const checked = new WeakSet<Etcd3>();

/** Throws LayoutError when etcd holds version 1 keys; one read per client. */
export async function refuseOldLayout(client: Etcd3): Promise<void> {
  if (checked.has(client)) return;
  const count = await client.getAll().prefix(V1_ROOT).count();
  if (count > 0) {
    throw new LayoutError(`etcd holds ${count} key(s) of the previous layout (${V1_ROOT}), which this version does not read: stop the old agents, `
      + `note the networks (vxlan-wasm network ls of the old version, or etcdctl get --prefix ${V1_ROOT}networks/), remove them with `
      + `etcdctl del --prefix ${V1_ROOT}, and create them again with vxlan-wasm network create`);
  }
  checked.add(client);
}
