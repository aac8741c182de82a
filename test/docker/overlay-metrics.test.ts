// The agent's overlay metrics, read at scrape time: endpoints per joined network (this host's and
// all), and each network's name server's queries by outcome. A fake host agent and fake networks:
// the figures come from what they report, through prom-client's text format.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Registry } from 'prom-client';
import { addOverlayMetrics } from '../../src/cli/agent-docker';
import type { EndpointRecord, NetworkRecord, ServedRecord } from '../../src/control/keys';

test('vxlan_endpoints, vxlan_dns_queries_total and vxlan_docker_calls_total follow the agent at each scrape', async () => {
  const blue = { name: 'blue', vni: 42, subnet: '10.0.9.0/24', gateway: '10.0.9.1', internal: false, created: '' } as NetworkRecord;
  const served: ServedRecord[] = [{} as ServedRecord];
  const all: EndpointRecord[] = [{} as EndpointRecord, {} as EndpointRecord, {} as EndpointRecord];
  const host = { networks: () => [blue], served: () => served, endpoints: () => all };
  const counters = { answered: 5, forwarded: 2, refused: 1, failed: 0, malformed: 3 };
  const registry = new Registry();
  const calls = new Map([['NetworkDriver.Join\u0000ok', 2], ['IpamDriver.RequestAddress\u0000refused', 1]]);
  addOverlayMetrics(registry, host, new Set([{ network: blue, dnsCounters: () => ({ ...counters }) }]), calls);
  let text = await registry.metrics();
  assert.match(text, /^vxlan_endpoints\{network="blue",scope="local"\} 1$/m);
  assert.match(text, /^vxlan_endpoints\{network="blue",scope="all"\} 3$/m);
  assert.match(text, /^vxlan_dns_queries_total\{network="blue",outcome="answered"\} 5$/m);
  assert.match(text, /^vxlan_dns_queries_total\{network="blue",outcome="malformed"\} 3$/m);
  assert.match(text, /^vxlan_docker_calls_total\{call="NetworkDriver\.Join",result="ok"\} 2$/m);
  assert.match(text, /^vxlan_docker_calls_total\{call="IpamDriver\.RequestAddress",result="refused"\} 1$/m);
  counters.answered = 9;
  all.push({} as EndpointRecord);
  text = await registry.metrics();
  assert.match(text, /^vxlan_dns_queries_total\{network="blue",outcome="answered"\} 9$/m, 'read again at the next scrape');
  assert.match(text, /^vxlan_endpoints\{network="blue",scope="all"\} 4$/m);
});

test.run();
