/**
 * Prometheus metrics of a Forwarder (prom-client), read from `forwarder.counters()` when scraped:
 * nothing is counted per packet here beyond what the forwarder already counts. Each forwarder gets
 * its own Registry (never prom-client's global one), so several in one process do not clash.
 *
 *   vxlan_frames_total{direction="to_underlay|to_device",vni}   vxlan_bytes_total{direction,vni}
 *   vxlan_flooded_total{vni}      vxlan_drops_total{reason}      vxlan_fdb_entries{vni}
 *   vxlan_peers{vni}              vxlan_fdb_events_total{type="learned|moved|aged|not_learned_full"}
 *   vxlan_neighbour_requests_total{protocol="arp|nd",outcome="answered|flooded"}
 *   vxlan_batches_total{from="device|underlay"}                  vxlan_batch_frames_total{from}
 *   vxlan_underlay_datagrams_total{direction="received|sent"}
 *   vxlan_underlay_errors_total{kind="unknown_source|oversize|send_error"}
 *   vxlan_queue_polls_total{kind="wait|busy_poll|busy_poll_hit"}   (queue workers only)
 *   plus prom-client's default process metrics (RSS, CPU, heap, event loop lag, ...).
 */
import { createServer, type Server } from 'node:http';
import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import type { Endpoint, UnderlayCounters } from '../forwarder/contracts';
import type { ForwarderCounters } from '../forwarder/forwarder';
import type { InlinePollerCounters } from '../forwarder/io/inline-reader';

/** What the metrics read: a Forwarder, or anything with its counters. */
export interface MetricsSource {
  counters(): ForwarderCounters;
  readonly underlay: { readonly counters: UnderlayCounters };
  peers?(vni: number): Endpoint[];
  /** Queue workers (a MultiQueueForwarder): how their loops waited and busy-polled. */
  pollerCounters?(): InlinePollerCounters | undefined;
}

export interface MetricsOptions {
  /** Also register prom-client's default process metrics (default true). */
  defaultMetrics?: boolean;
}

export interface ForwarderMetrics {
  /** This forwarder's registry: `await registry.metrics()` is the exposition text. */
  readonly registry: Registry;
  /** Serve GET /metrics over HTTP on host:port (0: any free port; see `server.address()`). */
  serve(host: string, port: number): Promise<Server>;
  /** Close the servers (open connections too) and clear the registry. Idempotent. */
  close(): Promise<void>;
}

/** Drop reasons as Prometheus label values: lower snake case. */
const label = (reason: string) => reason.toLowerCase();

export function createMetrics(forwarder: MetricsSource, options: MetricsOptions = {}): ForwarderMetrics {
  const registry = new Registry();
  const registers = [registry];

  // One snapshot per scrape: registry.metrics() runs every collect() in the same turn, so the
  // first takes it and the next turn forgets it (a later scrape sees fresh numbers).
  let snapshot: ForwarderCounters | undefined;
  const counters = (): ForwarderCounters => {
    if (snapshot === undefined) {
      snapshot = forwarder.counters();
      setImmediate(() => {
        snapshot = undefined;
      });
    }
    return snapshot;
  };

  type Fill = (set: (labels: Record<string, string>, value: number) => void) => void;
  // Counters mirror totals kept elsewhere: reset, then set to the current total, at each scrape.
  const counter = (name: string, help: string, labelNames: string[], fill: Fill) =>
    new Counter({
      name, help, labelNames, registers,
      collect() {
        this.reset();
        fill((labels, value) => this.inc(labels, value));
      },
    });
  const gauge = (name: string, help: string, labelNames: string[], fill: Fill) =>
    new Gauge({
      name, help, labelNames, registers,
      collect() {
        this.reset();
        fill((labels, value) => this.set(labels, value));
      },
    });

  counter('vxlan_frames_total', 'Frames forwarded, per direction and VNI (to_underlay counts each replica sent to a peer).', ['direction', 'vni'], (set) => {
    for (const network of counters().networks) {
      set({ direction: 'to_underlay', vni: String(network.vni) }, network.toUnderlay.frames);
      set({ direction: 'to_device', vni: String(network.vni) }, network.toDevice.frames);
    }
  });
  counter('vxlan_bytes_total', 'Bytes of inner Ethernet frames forwarded, per direction and VNI.', ['direction', 'vni'], (set) => {
    for (const network of counters().networks) {
      set({ direction: 'to_underlay', vni: String(network.vni) }, network.toUnderlay.bytes);
      set({ direction: 'to_device', vni: String(network.vni) }, network.toDevice.bytes);
    }
  });
  counter('vxlan_flooded_total', 'Frames replicated to every peer of the VNI (broadcast, multicast, unknown unicast).', ['vni'], (set) => {
    for (const network of counters().networks) set({ vni: String(network.vni) }, network.flooded);
  });
  counter('vxlan_drops_total', 'Frames not forwarded, by reason.', ['reason'], (set) => {
    for (const [reason, count] of Object.entries(counters().drops)) set({ reason: label(reason) }, count);
  });
  gauge('vxlan_fdb_entries', 'FDB entries (static and learned) per VNI.', ['vni'], (set) => {
    for (const network of counters().networks) set({ vni: String(network.vni) }, network.fdbEntries);
  });
  if (forwarder.peers !== undefined) {
    gauge('vxlan_peers', 'Remote VTEPs each VNI floods to.', ['vni'], (set) => {
      for (const network of counters().networks) set({ vni: String(network.vni) }, forwarder.peers!(network.vni).length);
    });
  }
  counter('vxlan_fdb_events_total', 'MAC learning events: learned, moved to another VTEP, aged out, not learned because the FDB was full.', ['type'], (set) => {
    const { learned, moved, aged, notLearnedFull } = counters().fdb;
    set({ type: 'learned' }, learned);
    set({ type: 'moved' }, moved);
    set({ type: 'aged' }, aged);
    set({ type: 'not_learned_full' }, notLearnedFull);
  });
  counter('vxlan_neighbour_requests_total', 'ARP requests and IPv6 neighbour solicitations from the devices: answered locally from the neighbour table, or flooded.', ['protocol', 'outcome'], (set) => {
    const neighbours = counters().neighbours;
    if (neighbours === undefined) return;
    set({ protocol: 'arp', outcome: 'answered' }, neighbours.arpAnswered);
    set({ protocol: 'arp', outcome: 'flooded' }, neighbours.arpFlooded);
    set({ protocol: 'nd', outcome: 'answered' }, neighbours.ndAnswered);
    set({ protocol: 'nd', outcome: 'flooded' }, neighbours.ndFlooded);
  });
  counter('vxlan_inner_checksums_finished_total', 'TCP/UDP segments from peers whose checksum a Linux sender on this host or hypervisor left partial, finished before the device write.', [], (set) => {
    const checksums = counters().checksums;
    if (checksums !== undefined) set({}, checksums.partialFinished);
  });
  counter('vxlan_batches_total', 'Batches handled, by where they came from.', ['from'], (set) => {
    const { batches } = counters();
    set({ from: 'device' }, batches.fromDevice);
    set({ from: 'underlay' }, batches.fromUnderlay);
  });
  counter('vxlan_batch_frames_total', 'Frames in those batches: divided by vxlan_batches_total, the mean batch size.', ['from'], (set) => {
    const { batches } = counters();
    set({ from: 'device' }, batches.fromDeviceFrames);
    set({ from: 'underlay' }, batches.fromUnderlayFrames);
  });
  counter('vxlan_underlay_datagrams_total', 'Datagrams the underlay received and sent.', ['direction'], (set) => {
    const underlay = forwarder.underlay.counters;
    set({ direction: 'received' }, underlay.received);
    set({ direction: 'sent' }, underlay.sent);
  });
  counter('vxlan_underlay_errors_total', 'Datagrams the underlay dropped: from refused sources, longer than a slot, or refused by the kernel on send.', ['kind'], (set) => {
    const underlay = forwarder.underlay.counters;
    set({ kind: 'unknown_source' }, underlay.unknownSource);
    set({ kind: 'oversize' }, underlay.oversize);
    set({ kind: 'send_error' }, underlay.sendErrors);
  });
  if (forwarder.pollerCounters !== undefined) {
    counter('vxlan_queue_polls_total', 'Queue workers\' polls: waits that could sleep, busy-polling looks after a burst (--busy-poll-us), and those looks that found frames (a sleep and a wake-up saved).', ['kind'], (set) => {
      const polls = forwarder.pollerCounters!();
      if (polls === undefined) return;
      set({ kind: 'wait' }, polls.waits);
      set({ kind: 'busy_poll' }, polls.busyPolls);
      set({ kind: 'busy_poll_hit' }, polls.busyPollHits);
    });
  }
  if (options.defaultMetrics !== false) collectDefaultMetrics({ register: registry });

  const servers = new Set<Server>();
  let closed = false;

  return {
    registry,

    async serve(host: string, port: number): Promise<Server> {
      if (closed) throw new Error('metrics are closed');
      const server = createServer((request, response) => {
        const path = (request.url ?? '/').split('?')[0];
        if (path !== '/metrics') {
          response.writeHead(404, { 'content-type': 'text/plain' }).end('not found: the metrics are at /metrics\n');
          return;
        }
        if (request.method !== 'GET' && request.method !== 'HEAD') {
          response.writeHead(405, { 'content-type': 'text/plain', allow: 'GET, HEAD' }).end('only GET and HEAD\n');
          return;
        }
        registry.metrics().then(
          (text) => {
            response.writeHead(200, { 'content-type': registry.contentType });
            response.end(request.method === 'HEAD' ? undefined : text);
          },
          (error: Error) => {
            response.writeHead(500, { 'content-type': 'text/plain' }).end(`metrics failed: ${error.message}\n`);
          },
        );
      });
      // A scraper that holds a connection open must not hold up shutdown (see close()).
      server.keepAliveTimeout = 5_000;
      server.requestTimeout = 10_000;
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(port, host, () => {
          server.off('error', reject);
          resolve();
        });
      });
      servers.add(server);
      return server;
    },

    async close(): Promise<void> {
      closed = true;
      const closing = [...servers].map((server) => new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }));
      servers.clear();
      await Promise.all(closing);
      registry.clear();
    },
  };
}
