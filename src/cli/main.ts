/**
 * The `vxlan-wasm` command line. Thin: it parses and checks arguments, then calls the library.
 * Every option is checked before any file is opened: a bad one is one sentence on stderr, exit 2.
 *
 *   vxlan-wasm decode FILE.pcap [--json] [--lax] [--no-verify] [--port N ...] [--allow-zero-udp6] [--gbp]
 *   vxlan-wasm forward --tap NAME --vni N --local ADDR --peer ADDR[:PORT] … (see forward --help)
 *   vxlan-wasm network create|ls|inspect|rm …, vxlan-wasm agent --network NAME … (see --help of each)
 *   vxlan-wasm demo [--count N] [--pcap FILE] [--netns]
 */
import { accessSync, constants, createReadStream, statSync } from 'node:fs';
import { once } from 'node:events';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { joinNegativeValues } from './args';
import { packageVersion } from './version';

// Each command is imported when it runs: `forward` then never loads etcd3 and its gRPC stack, nor
// `decode` the forwarder (start-up time and memory of a long-running process).

const DECODE_USAGE = `usage: vxlan-wasm decode FILE.pcap|FILE.pcapng [--json] [--lax] [--no-verify] [--port N ...] [--allow-zero-udp6] [--gbp]

Print each frame's layers and its inner frame, or why it failed to decode.
  --json             one JSON object per frame
  --lax              accept what Linux drops but can still be read (reserved bits, trailing bytes),
                     and GSO / BIG TCP super-packets whose IP length field is 0
  --no-verify        do not verify checksums; a wrong one is shown as a note on its frame
  --port N           a VXLAN UDP destination port (repeat for up to 4; default 4789 and 8472)
  --allow-zero-udp6  accept a zero UDP checksum over IPv6
  --gbp              accept the Group Policy extension's bits
exit codes: 0 every frame decoded; 1 a frame failed to decode, or the file is not a readable capture;
  2 a usage error.`;

const DEMO_USAGE = `usage: vxlan-wasm demo [--count N] [--pcap FILE] [--netns]

Two forwarders (userspace VTEPs) on loopback UDP, each with an in-process host: ARP, ping, a UDP
stream, MAC learning, counters (no root).
  --count N    datagrams in the UDP stream (1..999999, default 20000)
  --pcap FILE  where to write the captured datagrams (default: a file in the temporary directory)
  --netns      a TAP and the kernel's vxlan in network namespaces instead (root)
exit codes: 0 every step checked out; 1 a step failed; 2 a usage error.`;

const usage = `usage:
  vxlan-wasm decode FILE.pcap|FILE.pcapng [--json] [--lax] [--no-verify] [--port N ...] [--allow-zero-udp6] [--gbp]
      print each frame's layers and its inner frame, or why it failed to decode (exit 1 if any did)
  vxlan-wasm forward --tap NAME --vni N --local ADDR --peer ADDR[:PORT] ... | --config FILE
      run a userspace VTEP: a TAP device joined to its peers over VXLAN
  vxlan-wasm network create|ls|inspect|rm ... [--etcd URL,...]
      overlay networks kept in etcd
  vxlan-wasm endpoint ls|inspect ... [--network NAME] [--etcd URL,...]
      the endpoints of those networks (containers and hosts' TAPs): name, aliases, host, address, MAC
  vxlan-wasm agent --network NAME --local ADDR [--etcd URL,...] [--tap NAME]
      join this host to a network: register, take an address, program the forwarder
  vxlan-wasm demo [--count N] [--pcap FILE] [--netns]
      two forwarders (userspace VTEPs) on loopback UDP, each with an in-process host: ARP, ping, a UDP
      stream, MAC learning, counters (no root); --netns: a TAP and the kernel's vxlan in namespaces (root)
  vxlan-wasm help [COMMAND]     this text, or a command's own (as vxlan-wasm COMMAND --help)
  vxlan-wasm --version
exit codes: 0 done; 1 the work failed (each command's --help says how); 2 a usage error.`;

/**
 * A command's module, or a sentence naming the optional peer dependency it needs (the codec alone
 * installs none: see README, "Installing").
 */
async function loadCommand<T>(name: string, load: () => Promise<T>): Promise<T> {
  try {
    return await load();
  } catch (error) {
    const { code, message } = error as NodeJS.ErrnoException;
    const missing = code === 'ERR_MODULE_NOT_FOUND' ? /Cannot find (?:package|module) '([^']+)'/.exec(message)?.[1] : undefined;
    if (missing === undefined || missing.startsWith('.') || missing.startsWith('/')) throw error;
    throw new Error(`${name} needs the package ${missing}, which is not installed: npm install ${missing} (an optional peer dependency of vxlan-wasm; npm install koffi pino prom-client etcd3 dns-packet gives every command what it needs)`);
  }
}

/** The decoder matches the destination port against at most this many ports. */
const MAX_PORTS = 4;

class UsageError extends Error {}

/** A file the command will read: one sentence when it is missing, a directory, or unreadable (exit 1). */
class FileError extends Error {}

const DECODE_FLAGS = {
  json: { type: 'boolean', default: false },
  lax: { type: 'boolean', default: false },
  'no-verify': { type: 'boolean', default: false },
  port: { type: 'string', multiple: true },
  'allow-zero-udp6': { type: 'boolean', default: false },
  gbp: { type: 'boolean', default: false },
} as const;

const DEMO_FLAGS = { count: { type: 'string' }, netns: { type: 'boolean', default: false }, pcap: { type: 'string' } } as const;

function wantsHelp(args: readonly string[]): boolean {
  return args.includes('--help') || args.includes('-h');
}

function help(write: (line: string) => void, text: string): number {
  write(text);
  return 0;
}

/**
 * node:util parseArgs, with `--count -3` passed on as a value (its own check then says what is
 * wrong with it) and parseArgs' multi-line messages replaced by one sentence naming the flag.
 */
function parse<T extends NonNullable<ParseArgsConfig['options']>>(command: string, args: string[], options: T, allowPositionals: boolean): ReturnType<typeof parseArgs<{ args: string[]; options: T; allowPositionals: boolean }>> {
  try {
    return parseArgs({ args: joinNegativeValues(args, options), options, allowPositionals });
  } catch (error) {
    const { code, message } = error as { code?: string; message: string };
    const flag = /'(-[^' ]*)/.exec(message)?.[1];
    if (code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') throw new UsageError(`${flag ?? message} is not a flag of ${command} (see vxlan-wasm ${command} --help)`);
    if (code === 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL') throw new UsageError(`${command} takes no file or word there: ${/'([^']*)'/.exec(message)?.[1] ?? message}`);
    if (code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE') throw new UsageError(`${flag ?? 'a flag'} ${message.includes('argument missing') ? 'needs a value' : 'takes no value'} (see vxlan-wasm ${command} --help)`);
    throw error;
  }
}

function checkReadableFile(path: string): void {
  let stats;
  try {
    stats = statSync(path);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new FileError(code === 'ENOENT' ? `${path}: no such file` : `${path}: cannot be read (${code})`);
  }
  if (stats.isDirectory()) throw new FileError(`${path} is a directory, not a capture file`);
  try {
    accessSync(path, constants.R_OK);
  } catch (error) {
    throw new FileError(`${path}: cannot be read (${(error as NodeJS.ErrnoException).code})`);
  }
}

function parsePort(text: string): number {
  if (!/^[0-9]{1,5}$/.test(text) || Number(text) < 1 || Number(text) > 65535) {
    throw new UsageError(`--port ${text} is not a UDP port (an integer in 1..65535)`);
  }
  return Number(text);
}

function parseCount(text: string): number {
  if (!/^[0-9]{1,6}$/.test(text) || Number(text) < 1) throw new UsageError(`--count ${text} is not a whole number of frames (1..999999)`);
  return Number(text);
}

/** Run the CLI; resolves to the process exit code once all work is done. */
export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  // `vxlan-wasm decode big.pcap | head` closes our stdout early: that is not an error. decode
  // stops there; every other command goes on without its output, so what it made (the --netns
  // demo's namespaces, a forwarder's TAP) is still removed by its own cleanup.
  let stdoutClosed = false;
  process.stdout.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code !== 'EPIPE') throw error;
    if (command === 'decode') process.exit(0);
    stdoutClosed = true;
  });
  const write = (line: string) => {
    if (!stdoutClosed) process.stdout.write(line + '\n');
  };
  const drain = () => (stdoutClosed ? Promise.resolve() : once(process.stdout, 'drain').then(() => undefined));
  try {
    switch (command) {
      case 'decode': {
        if (wantsHelp(rest)) return help(write, DECODE_USAGE);
        const { values, positionals } = parse('decode', rest, DECODE_FLAGS, true);
        if (positionals.length !== 1) throw new UsageError('decode needs exactly one capture file');
        const ports = values.port?.map(parsePort);
        if (ports && ports.length > MAX_PORTS) throw new UsageError(`--port was given ${ports.length} times; the decoder matches at most ${MAX_PORTS} ports`);
        const [path] = positionals;
        checkReadableFile(path);
        return await (await loadCommand('decode', () => import('./decode'))).decodeCommand(createReadStream(path, { highWaterMark: 64 * 1024 }), {
          json: values.json,
          lax: values.lax,
          verifyChecksums: !values['no-verify'],
          ports,
          allowZeroUdpChecksumIpv6: values['allow-zero-udp6'],
          gbp: values.gbp,
          write,
          drain,
        });
      }
      case 'forward':
        // Its own flags, --help and exit codes (2 for any configuration error); resolves after shutdown.
        return await (await loadCommand('forward', () => import('./forward'))).forwardCommand(rest);
      case 'network':
        // Its own subcommands, flags, --help and exit codes (2 usage, 1 refused or etcd unreachable).
        return await (await loadCommand('network', () => import('./network'))).networkCommand(rest);
      case 'endpoint':
        // Its own subcommands, flags, --help and exit codes (2 usage, 1 not found or etcd unreachable).
        return await (await loadCommand('endpoint', () => import('./endpoint'))).endpointCommand(rest);
      case 'agent':
        // Its own flags, --help and exit codes; resolves after it has left the network and shut down.
        return await (await loadCommand('agent', () => import('./agent'))).agentCommand(rest);
      case 'demo': {
        if (wantsHelp(rest)) return help(write, DEMO_USAGE);
        const { values } = parse('demo', rest, DEMO_FLAGS, false);
        const count = values.count === undefined ? undefined : parseCount(values.count);
        return await (await loadCommand('demo', () => import('./demo'))).demoCommand({ count, netns: values.netns, pcap: values.pcap, write });
      }
      case '--version':
      case '-v':
        write(`vxlan-wasm ${packageVersion}`);
        return 0;
      case 'help':
        // `help COMMAND` is `COMMAND --help`; `help` alone the overview.
        if (rest.length > 0 && ['decode', 'forward', 'network', 'endpoint', 'agent', 'demo'].includes(rest[0])) return await main([rest[0], '--help']);
        if (rest.length > 0) throw new UsageError(`help ${rest[0]}: there is no command ${rest[0]}`);
        write(usage);
        return 0;
      case undefined:
      case '--help':
      case '-h':
        write(usage);
        return command === undefined ? 2 : 0;
      default:
        throw new UsageError(`unknown command ${command}`);
    }
  } catch (error) {
    if (error instanceof FileError) {
      process.stderr.write(`vxlan-wasm ${command}: ${error.message}\n`);
      return 1;
    }
    if (error instanceof UsageError || (error as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
      // One line: the mistake, and where the usage is unless the sentence says so already.
      const message = (error as Error).message;
      process.stderr.write(`vxlan-wasm: ${message}${message.includes('--help') ? '' : ' (vxlan-wasm --help prints the usage)'}\n`);
      return 2;
    }
    const what = (error as Error).name === 'PcapError' && command === 'decode' ? 'not a readable capture: ' : '';
    process.stderr.write(`vxlan-wasm: ${what}${(error as Error).message}\n`);
    return 1;
  }
}
