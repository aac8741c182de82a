// buildVtep on this thread (queues 0, which is buildThreadVtep of thread-vtep.ts) with in-memory
// ports: the order in which it opens, wires and starts, and that a failing step closes what the
// earlier ones opened. The queue engine is built by the same function and run for real by
// test/forwarder/multi-queue/multi-queue-forwarder.test.ts and the e2e suites that start the CLI.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { buildVtep, type VtepHooks, type VtepSpec } from '../../src/forwarder/vtep';
import type { DeviceEvents } from '../../src/forwarder/contracts';
import type { TunnelGsoTap } from '../../src/forwarder/underlay/tunnel-gso';
import { ethernetFrame, FakeDevice, FakeNetwork, settle, type FakeUnderlay } from './fakes';

/** A FakeDevice that says when it was started. */
class StartedDevice extends FakeDevice {
  started = false;
  override start(events: DeviceEvents): void {
    this.started = true;
    super.start(events);
  }
}

const PEER = { address: '192.0.2.2', port: 4789 };

function spec(extra: Partial<VtepSpec> = {}): VtepSpec {
  return {
    queues: 0,
    underlay: { address: '192.0.2.1', port: 4789, maxDatagramLength: 1500 },
    networks: [
      { vni: 100, tap: { name: 'a', mtu: 1450, create: true }, peers: [PEER] },
      { vni: 200, tap: { name: 'b', mtu: 1450, create: true } },
    ],
    ...extra,
  };
}

/**
 * In-memory ports for buildVtep's hooks, and what was opened through them. `failOn`: the device
 * of that name cannot open (as a TAP without permission).
 */
function fakePorts(failOn?: string) {
  const network = new FakeNetwork();
  const devices: StartedDevice[] = [];
  const underlays: FakeUnderlay[] = [];
  const underlayOptions: object[] = [];
  const hooks: VtepHooks = {
    openUnderlay: (options) => {
      underlayOptions.push(options);
      const underlay = network.underlay(options.address, options.port);
      underlays.push(underlay);
      return underlay;
    },
    openDevice: (options) => {
      if (options.name === failOn) throw Object.assign(new Error(`no TAP ${failOn}`), { code: 'TAP_PERMISSION' });
      const device = new StartedDevice(options.name);
      devices.push(device);
      return device;
    },
  };
  return { network, devices, underlays, underlayOptions, hooks };
}

test('engine 0: opens the underlay and a device per network in order, calls beforeStart before reading, and forwards', async () => {
  const { devices, underlays, underlayOptions, hooks } = fakePorts();
  const startedAtHook: boolean[] = [];
  const vtep = await buildVtep(spec(), {
    ...hooks,
    beforeStart: (made) => {
      assert.is(made.engine, 'thread');
      startedAtHook.push(...devices.map((device) => device.started));
    },
  });
  assert.is(vtep.engine, 'thread');
  if (vtep.engine !== 'thread') return;
  assert.equal(devices.map((device) => device.name), ['a', 'b']);
  assert.equal(vtep.devices, devices);
  assert.equal(startedAtHook, [false, false], 'beforeStart runs before the devices are read');
  assert.ok(devices.every((device) => device.started), 'started once built');
  // No onNotice hook: the underlay is asked for none (agent --network's main thread relies on it).
  assert.equal(underlayOptions, [{ address: '192.0.2.1', port: 4789, maxDatagramLength: 1500 }]);
  assert.equal(vtep.forwarder.vnis().sort(), [100, 200]);

  // A broadcast on VNI 100 is flooded to its peer: the forwarder runs.
  devices[0].inject(ethernetFrame('ff:ff:ff:ff:ff:ff', '02:00:00:00:00:01'));
  await settle();
  assert.equal(underlays[0].sentLog.map((sent) => sent.to), [PEER]);

  await vtep.close();
  assert.ok(underlays[0].closed);
  assert.ok(devices.every((device) => device.closed));
});

test('engine 0: a device that cannot open closes the devices and underlay opened before it', async () => {
  const { devices, underlays, hooks } = fakePorts('b');
  const failure = await buildVtep(spec(), hooks).then(() => undefined, (error: NodeJS.ErrnoException) => error);
  assert.is(failure?.message, 'no TAP b');
  assert.is(failure?.code, 'TAP_PERMISSION', 'the error is passed on as it was thrown');
  assert.is(devices.length, 1);
  assert.ok(devices[0].closed, 'the first device was closed');
  assert.ok(underlays[0].closed, 'the underlay was closed');
});

test('engine 0: a shared underlay is used, and left open when a later step fails', async () => {
  const { network, devices, underlays, hooks } = fakePorts();
  const shared = network.underlay('192.0.2.1', 4789);
  // Two networks with one VNI: the Forwarder refuses them, after both devices opened.
  const duplicate = spec({ networks: [{ vni: 100, tap: { name: 'a' } }, { vni: 100, tap: { name: 'b' } }] });
  const failure = await buildVtep(duplicate, { ...hooks, sharedUnderlay: shared }).then(() => undefined, (error: Error) => error);
  assert.match(failure?.message ?? '', 'vni 100 is already served');
  assert.is(underlays.length, 0, 'a shared underlay is not opened again');
  assert.ok(devices.length === 2 && devices.every((device) => device.closed), 'both devices closed');
  assert.not.ok(shared.closed, 'the shared underlay stays its opener\'s');
});

test('engine 0: beforeStart throwing closes the forwarder with its ports, and nothing was read', async () => {
  const { devices, underlays, hooks } = fakePorts();
  const failure = await buildVtep(spec(), {
    ...hooks,
    beforeStart: () => {
      throw new Error('listener refused');
    },
  }).then(() => undefined, (error: Error) => error);
  assert.is(failure?.message, 'listener refused');
  assert.ok(underlays[0].closed);
  assert.ok(devices.length === 2 && devices.every((device) => device.closed && !device.started));
});

test('engine 0: tunnel GSO over an underlay that is not UDP is refused, the tunnel TAP closed after the devices', async () => {
  const network = new FakeNetwork();
  const order: string[] = [];
  const tunnelOptions: object[] = [];
  const fakeTunnel = { close: async () => { order.push('tunnel'); } } as unknown as TunnelGsoTap;
  const failure = await buildVtep(spec({ tunnelGso: { name: 'a.gso', localAddress: '192.0.2.1', ingress: true } }), {
    openUnderlay: (options) => network.underlay(options.address, options.port),
    openDevice: (options) => Object.assign(new FakeDevice(options.name), { close: async () => { order.push(`device ${options.name}`); } }),
    openTunnel: (options) => {
      tunnelOptions.push(options);
      return fakeTunnel;
    },
  }).then(() => undefined, (error: Error) => error);
  assert.instance(failure, TypeError);
  assert.match(failure!.message, 'tunnel GSO needs the UDP underlay');
  assert.equal(tunnelOptions, [{ name: 'a.gso', localAddress: '192.0.2.1', log: undefined }]);
  assert.equal(order, ['device a', 'device b', 'tunnel']);
});

test('queue engine: a shared underlay is refused before any worker starts', async () => {
  const network = new FakeNetwork();
  const failure = await buildVtep(spec({ queues: 1 }), { sharedUnderlay: network.underlay('192.0.2.1') }).then(() => undefined, (error: Error) => error);
  assert.instance(failure, TypeError);
  assert.match(failure!.message, 'shared underlay needs queues 0');
});

test('engine 0: settings only queue workers take are refused, not silently dropped, before anything opens', async () => {
  const { hooks, devices, underlays } = fakePorts();
  for (const [key, value] of [['busyPollUs', 100], ['idleWakeMs', 5], ['countersIntervalMs', 500]] as const) {
    const failure = await buildVtep(spec({ [key]: value }), hooks).then(() => undefined, (error: Error) => error);
    assert.instance(failure, TypeError, key);
    assert.match(failure!.message, `${key}: queue workers only`);
  }
  assert.is(devices.length + underlays.length, 0);
});

test.run();
