/**
 * One queue of a MultiQueueForwarder, run in its own worker thread with its own WASM instance: it
 * attaches one queue of each network's TAP (IFF_MULTI_QUEUE), binds its own UDP socket on the
 * shared port (SO_REUSEPORT), and runs a whole Forwarder over them. The kernel keeps each flow on
 * one TAP queue and each remote flow on one socket, so a flow's frames are never reordered.
 *
 * What it learns it tells the owner, which passes it on to the other queues (`learnedElsewhere`):
 * a MAC heard on this queue's socket is known to every queue's FDB, so the queue that sends to it
 * does not flood. Every quarter of the ageing time it repeats the entries frames still confirm
 * here, so the other queues' copies age out only when no queue hears the MAC any more.
 */
import { parentPort, workerData } from 'node:worker_threads';
import type { Forwarder } from '../forwarder';
import { buildThreadVtep, type ThreadVtep } from '../thread-vtep';
import { TapDevice } from '../device/tap';
import { UdpUnderlay } from '../underlay/udp';
import { DEFAULT_AGEING_MS, type FdbEvent } from '../fdb';
import { InlinePoller } from '../io/inline-reader';
import { TunnelGsoTap } from '../underlay/tunnel-gso';
import type { ControlCall, FromQueue, LearnedEntry, QueueNetworkOptions, QueueWorkerData, ToQueue } from './messages';

const data = workerData as QueueWorkerData;
const owner = parentPort!;

function post(message: FromQueue): void {
  owner.postMessage(message);
}

let forwarder: Forwarder | undefined;
let tunnel: TunnelGsoTap | undefined;
/** This thread reads its TAP queues and its socket itself: run to completion, no reader threads. */
const poller = new InlinePoller();
const timers: NodeJS.Timeout[] = [];

function postCounters(): void {
  if (forwarder === undefined) return;
  post({ type: 'counters', forwarder: forwarder.counters(), underlay: { ...forwarder.underlay.counters }, tunnelGso: tunnel === undefined ? undefined : { ...tunnel.counters }, poller: { ...poller.counters } });
}

/**
 * This queue's VTEP, built on this thread: its own socket in the port's SO_REUSEPORT group, a
 * queue of each TAP and of the tunnel TAP (whose ingress redirect is the owner's), all read by
 * this thread's poller. Resolves within this turn (nothing here waits on I/O), so the owner's
 * messages find the forwarder set.
 */
async function start(): Promise<void> {
  const notice = (message: string): void => post({ type: 'notice', message: `queue ${data.queue}: ${message}` });
  let vtep: ThreadVtep;
  // The TAPs as opened (their MACs and whether this queue made them go to the owner).
  const taps: TapDevice[] = [];
  try {
    vtep = await buildThreadVtep({ ...data.forwarder, underlay: data.underlay, networks: data.networks, tunnelGso: data.tunnelGso }, {
      openUnderlay: (options) => UdpUnderlay.open({ ...options, reusePort: true, poller }),
      openDevice: (options) => {
        const tap = TapDevice.open({ ...options, multiQueue: true, log: notice, poller });
        taps.push(tap);
        return tap;
      },
      // Queue 0 alone says what the tunnel TAP set up: the others attach the same TAP.
      openTunnel: (options) => TunnelGsoTap.open({ ...options, multiQueue: true, log: data.queue === 0 ? notice : undefined, poller }),
      onNotice: notice,
      beforeStart: (made) => {
        listen(made.forwarder);
        // This thread pumps after each pass itself (poller.run below): no setImmediate per wake.
        made.forwarder.pumpedByCaller();
      },
    });
  } catch (error) {
    const { message, code } = error as NodeJS.ErrnoException;
    post({ type: 'failed', message, code });
    owner.close();
    return;
  }
  const opened = vtep.forwarder;
  forwarder = opened;
  tunnel = vtep.tunnel;
  // Each pass's reads go straight to the pump: a lone frame leaves before the thread polls again,
  // and the loop turns the event loop only when the owner rings (a message) or a timer is due.
  poller.run(() => opened.pumpNow(), { doorbell: data.doorbell, busyPollUs: data.busyPollUs, idleWakeMs: data.idleWakeMs }).catch((error: Error) => post({ type: 'broken', message: `polling: ${error.message}` }));
  const refreshMs = (data.forwarder.ageingMs ?? DEFAULT_AGEING_MS) / 4;
  timers.push(setInterval(postCounters, data.countersIntervalMs), setInterval(() => {
    const entries = opened.recentlyLearned(refreshMs);
    if (entries.length > 0) post({ type: 'learned', entries });
  }, refreshMs));
  post({
    type: 'ready',
    localPort: opened.underlay.localPort,
    devices: taps.map((device) => ({ name: device.name, mac: device.mac, created: device.created })),
  });
}

/** The owner hears of a broken port and of what this queue learned. */
function listen(opened: Forwarder): void {
  opened.on('error', (error: Error) => post({ type: 'broken', message: error.message }));
  opened.on('fdb', (events: FdbEvent[]) => {
    const entries: LearnedEntry[] = [];
    for (const event of events) {
      if (event.type === 'aged') continue;
      const endpoint = opened.endpoint(event.endpoint);
      if (endpoint !== undefined) entries.push({ vni: event.vni, mac: event.mac, endpoint });
    }
    if (entries.length > 0) post({ type: 'learned', entries });
  });
}

/** One runtime change (checked by the owner; one this queue cannot make is skipped, as a learned entry is). */
function apply(target: Forwarder, call: ControlCall): void {
  switch (call.op) {
    case 'addPeer': target.addPeer(call.vni, call.endpoint); break;
    case 'removePeer': target.removePeer(call.vni, call.endpoint); break;
    case 'addFdbEntry': target.addFdbEntry(call.vni, call.mac, call.endpoint); break;
    case 'removeFdbEntry': target.removeFdbEntry(call.vni, call.mac); break;
    case 'addNeighbour': target.addNeighbour(call.vni, call.ip, call.mac); break;
    case 'removeNeighbour': target.removeNeighbour(call.vni, call.ip); break;
    default:
  }
}

/** Another VNI on this queue: a queue of its TAP (made by queue 0, attached by the others). */
function addNetwork(id: number, network: QueueNetworkOptions): void {
  if (forwarder === undefined) return;
  let device: TapDevice | undefined;
  try {
    device = TapDevice.open({ ...network.tap, multiQueue: true, poller, log: (message) => post({ type: 'notice', message: `queue ${data.queue}: ${message}` }) });
    forwarder.addNetwork({ vni: network.vni, device, peers: network.peers, fdb: network.fdb });
    post({ type: 'networkDone', id, device: { name: device.name, mac: device.mac, created: device.created } });
  } catch (error) {
    void device?.close();
    const { message, code } = error as NodeJS.ErrnoException;
    post({ type: 'networkFailed', id, message, code });
  }
}

owner.on('message', (message: ToQueue) => {
  if (message.type === 'control') {
    for (const call of message.calls) {
      try {
        if (forwarder !== undefined) apply(forwarder, call);
      } catch {
        // skipped: see apply
      }
    }
  } else if (message.type === 'sync') {
    post({ type: 'networkDone', id: message.id });
  } else if (message.type === 'addNetwork') {
    addNetwork(message.id, message.network);
  } else if (message.type === 'removeNetwork') {
    const done = forwarder === undefined || !forwarder.vnis().includes(message.vni) ? Promise.resolve() : forwarder.removeNetwork(message.vni);
    done.then(
      () => post({ type: 'networkDone', id: message.id }),
      (error: Error) => post({ type: 'networkFailed', id: message.id, message: error.message }),
    );
  } else if (message.type === 'learned') {
    for (const entry of message.entries) {
      // A VNI or endpoint this queue does not take (it cannot differ between queues, but a
      // message is no reason to crash a queue) is skipped.
      try {
        forwarder?.learnedElsewhere(entry.vni, entry.mac, entry.endpoint);
      } catch {
        // skipped
      }
    }
  } else if (message.type === 'close') {
    for (const timer of timers) clearInterval(timer);
    void poller.stop().then(() => forwarder?.close()).then(() => tunnel?.close()).finally(() => {
      postCounters();
      post({ type: 'closed' });
      owner.close();
    });
  }
});

void start();
