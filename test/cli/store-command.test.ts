// The argument checks `network` and `endpoint` share (src/cli/store-command.ts), whole sentences:
// test/control/cli.test.ts runs both commands for their exit codes; here each rule's exact words,
// as both commands said them before they shared one home.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ConfigError } from '../../src/cli/config';
import { checkNetworkNameArgument, subcommandOf, table } from '../../src/cli/store-command';
import { NETWORK_SUBCOMMANDS } from '../../src/cli/network';
import { ENDPOINT_SUBCOMMANDS } from '../../src/cli/endpoint';

const NETWORK = NETWORK_SUBCOMMANDS;
const ENDPOINT = ENDPOINT_SUBCOMMANDS;

function refusal(run: () => unknown): string {
  try {
    run();
  } catch (error) {
    assert.instance(error, ConfigError);
    return (error as Error).message;
  }
  throw new Error('not refused');
}

test('a subcommand missing, unknown, or with an argument too many or too few: one sentence each', () => {
  for (const [cli, rules, positionals, sentence] of [
    ['network', NETWORK, [], 'network needs a subcommand: create, ls, inspect or rm (see network --help).'],
    ['endpoint', ENDPOINT, [], 'endpoint needs a subcommand: ls or inspect (see endpoint --help).'],
    ['network', NETWORK, ['frob'], 'frob is not a network subcommand (create, ls, inspect, rm).'],
    ['endpoint', ENDPOINT, ['frob'], 'frob is not an endpoint subcommand (ls, inspect).'],
    ['network', NETWORK, ['rm', 'blue', 'red'], 'red is one argument too many for network rm.'],
    ['network', NETWORK, ['ls', 'blue'], 'blue is one argument too many for network ls.'],
    ['endpoint', ENDPOINT, ['list', 'blue'], 'blue is one argument too many for endpoint ls (give the network with --network).'],
    ['network', NETWORK, ['remove'], 'network rm needs the network\'s NAME.'],
    ['endpoint', ENDPOINT, ['inspect'], 'endpoint inspect needs the endpoint\'s id (or the start of it) or its name.'],
  ] as const) {
    assert.is(refusal(() => subcommandOf(cli, [...positionals], rules)), sentence, positionals.join(' '));
  }
});

test('aliases resolve; the argument comes back; a network name checked as a usage error', () => {
  assert.equal(subcommandOf('network', ['list'], NETWORK), { command: 'ls', argument: undefined });
  assert.equal(subcommandOf('network', ['remove', 'blue'], NETWORK), { command: 'rm', argument: 'blue' });
  assert.equal(subcommandOf('endpoint', ['inspect', 'web1'], ENDPOINT), { command: 'inspect', argument: 'web1' });
  assert.is(checkNetworkNameArgument('NAME', 'blue-1'), 'blue-1');
  assert.is(refusal(() => checkNetworkNameArgument('--network', 'Blue')),
    '--network: "Blue" is not a network name (1..63 of a-z, 0-9, \'_\', \'.\', \'-\', starting with a letter or digit).');
});

test('table: columns as wide as their widest cell, two spaces apart, no trailing spaces', () => {
  assert.equal(table([['NAME', 'VNI'], ['blue', '7700'], ['a-longer-one', '1']]), ['NAME          VNI', 'blue          7700', 'a-longer-one  1']);
});

test.run();
