/**
 * The `vxlan-wasm` command line. Thin: it parses arguments and calls the library.
 *
 *   vxlan-wasm decode FILE.pcap [--json] [--lax] [--port N ...] [--allow-zero-udp6]
 *   vxlan-wasm demo [--count N]
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { decodeCommand } from './decode';
import { demoCommand } from './demo';

const usage = `usage:
  vxlan-wasm decode FILE.pcap|FILE.pcapng [--json] [--lax] [--port N ...] [--allow-zero-udp6] [--gbp]
      print each frame's layers, or the DecodeError code of frames that fail
  vxlan-wasm demo [--count N]
      two VXLAN tunnel endpoints on loopback UDP: encapsulate, send, receive, decapsulate
  vxlan-wasm --version`;

/** Run the CLI; resolves to the process exit code once all work is done. */
export async function main(argv: string[]): Promise<number> {
  // `vxlan-wasm decode big.pcap | head` closes our stdout early: that is not an error.
  process.stdout.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code === 'EPIPE') process.exit(0);
    throw error;
  });
  const [command, ...rest] = argv;
  try {
    switch (command) {
      case 'decode': {
        const { values, positionals } = parseArgs({
          args: rest,
          allowPositionals: true,
          options: {
            json: { type: 'boolean', default: false },
            lax: { type: 'boolean', default: false },
            port: { type: 'string', multiple: true },
            'allow-zero-udp6': { type: 'boolean', default: false },
            gbp: { type: 'boolean', default: false },
          },
        });
        if (positionals.length !== 1) throw new UsageError('decode needs exactly one capture file');
        const ports = values.port?.map((text) => Number(text));
        return decodeCommand(readFileSync(positionals[0]), {
          json: values.json,
          decap: {
            strict: !values.lax,
            ports,
            allowZeroUdpChecksumIpv6: values['allow-zero-udp6'],
            gbp: values.gbp,
          },
          write: (line) => process.stdout.write(line + '\n'),
        });
      }
      case 'demo': {
        const { values } = parseArgs({ args: rest, options: { count: { type: 'string', default: '5' } } });
        return await demoCommand({ count: Number(values.count), write: (line) => process.stdout.write(line + '\n') });
      }
      case '--version':
        process.stdout.write('vxlan-wasm\n');
        return 0;
      case undefined:
      case '--help':
      case '-h':
        process.stdout.write(usage + '\n');
        return command === undefined ? 2 : 0;
      default:
        throw new UsageError(`unknown command ${command}`);
    }
  } catch (error) {
    if (error instanceof UsageError || (error as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
      process.stderr.write(`vxlan-wasm: ${(error as Error).message}\n${usage}\n`);
      return 2;
    }
    process.stderr.write(`vxlan-wasm: ${(error as Error).message}\n`);
    return 1;
  }
}

class UsageError extends Error {}
