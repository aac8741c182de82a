// The built package loads the ways users load it: Node ESM, Node CJS, a browser bundle made by
// esbuild, and its type declarations compile for both module kinds. Runs against dist/, which
// `npm test` builds first.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { build } from 'esbuild';
import { temporaryDirs } from './helpers/temporary';

const { removeTemporaryDirs, temporaryDir } = temporaryDirs();

const root = fileURLToPath(new URL('..', import.meta.url));

// A known answer both loaders must give: the RFC 1071 §3 example words sum to 0xddf2.
const probe = `checksum(new Uint8Array([0x00,0x01,0xf2,0x03,0xf4,0xf5,0xf6,0xf7])).toString(16) + ' ' + backendName()`;

function node(args: string[]): string {
  return execFileSync(process.execPath, args, { cwd: root, encoding: 'utf8' }).trim();
}

test('dist/ has been built', () => {
  for (const file of ['index.mjs', 'index.cjs', 'index.d.mts', 'index.d.cts', 'forwarder.mjs', 'forwarder.cjs', 'forwarder.d.mts', 'forwarder.d.cts', 'control.mjs', 'control.cjs', 'control.d.mts', 'control.d.cts', 'cli.mjs']) {
    assert.ok(existsSync(join(root, 'dist', file)), `dist/${file}`);
  }
});

test('import("vxlan-wasm") works in Node ESM', () => {
  const out = node(['--input-type=module', '-e', `import { checksum, backendName } from 'vxlan-wasm'; console.log(${probe});`]);
  assert.is(out, '220d wasm-simd');
});

test('require("vxlan-wasm") works in Node CJS', () => {
  const out = node(['-e', `const { checksum, backendName } = require('vxlan-wasm'); console.log(${probe});`]);
  assert.is(out, '220d wasm-simd');
});

test('vxlan-wasm/forwarder loads in Node ESM and CJS, and its Forwarder switches a frame', () => {
  const script = (load: string) => `${load}
    const host = new UserspaceHost({ name: 'h', mac: '02:00:00:00:00:01', ip: '10.9.0.1' });
    const forwarder = new Forwarder({ underlay: UdpUnderlay.open({ address: '127.0.0.1', port: 0 }), networks: [{ vni: 5, device: host }] });
    forwarder.start();
    host.ping('10.9.0.2', { count: 1, timeoutMs: 50 }).catch(() => {}).finally(async () => {
      await forwarder.close();
      console.log(forwarder.counters().drops.NO_PEERS > 0 ? 'flooded to no peer' : 'nothing seen');
    });`;
  assert.is(node(['--input-type=module', '-e', script(`import { Forwarder, UdpUnderlay, UserspaceHost } from 'vxlan-wasm/forwarder';`)]), 'flooded to no peer');
  assert.is(node(['-e', script(`const { Forwarder, UdpUnderlay, UserspaceHost } = require('vxlan-wasm/forwarder');`)]), 'flooded to no peer');
});

test('esbuild bundles it for the browser, with no Node built-ins, and the bundle runs', async () => {
  const result = await build({
    stdin: {
      contents: `import { checksum, backendName, encapsulate, decapsulate, ready } from 'vxlan-wasm';
        await ready(); // what a browser page does: compile asynchronously, then call synchronously
        const inner = new Uint8Array(60).fill(7);
        const frame = encapsulate(inner, { vni: 9, source: { mac: '02:00:00:00:00:01', ip: '10.0.0.1' },
          destination: { mac: '02:00:00:00:00:02', ip: '10.0.0.2' } });
        export const answer = ${probe} + ' ' + decapsulate(frame).vxlan.vni;`,
      resolveDir: root,
      loader: 'js',
    },
    bundle: true,
    platform: 'browser',
    format: 'esm',
    write: false,
    logLevel: 'silent',
  });
  const code = result.outputFiles[0].text;
  assert.not.match(code, /from\s*["']node:/, 'no node: imports in the browser bundle');
  const file = join(temporaryDir('vxlan-bundle-'), 'bundle.mjs');
  writeFileSync(file, code);
  const { answer } = await import(pathToFileURL(file).href);
  assert.is(answer, '220d wasm-simd 9');
});

test('the codec installs alone: no dependency of the package, every package the forwarder, CLI and control plane need an optional peer, and no bare import in the codec\'s own files', () => {
  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as Record<string, Record<string, unknown> | undefined>;
  assert.equal(Object.keys(pkg.dependencies ?? {}), [], 'no dependencies: the codec needs none');
  assert.equal(Object.keys(pkg.optionalDependencies ?? {}), [], 'no optional dependencies either (npm installs those too)');
  const peers = Object.keys(pkg.peerDependencies ?? {});
  for (const name of peers) {
    assert.equal(pkg.peerDependenciesMeta?.[name], { optional: true }, `${name} is an optional peer`);
    assert.ok(name in (pkg.devDependencies ?? {}), `${name} is a dev dependency too (the repository's own npm ci installs it)`);
  }
  // What dist/index.mjs loads, following its relative imports: only node: built-ins or nothing.
  const seen = new Set<string>();
  const bare = new Set<string>();
  const visit = (file: string) => {
    if (seen.has(file)) return;
    seen.add(file);
    const text = readFileSync(file, 'utf8');
    for (const match of text.matchAll(/(?:^|[\s;])(?:import|export)\b[^'"]*?from\s*['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)/gm)) {
      const specifier = match[1] ?? match[2];
      if (specifier.startsWith('.')) visit(join(file, '..', specifier));
      else if (!specifier.startsWith('node:')) bare.add(specifier);
    }
  };
  visit(join(root, 'dist/index.mjs'));
  assert.equal([...bare], [], `dist/index.mjs and its chunks import ${[...bare].join(', ')}`);
  assert.ok(seen.size >= 2, 'the codec entry and its shared chunk were read');
});

test('the type declarations compile for ESM and CJS consumers', () => {
  const dir = temporaryDir('vxlan-types-');
  const usage = `import { encapsulate, decapsulate, DecodeError, type VxlanFrame } from 'vxlan-wasm';
const frame: Uint8Array = encapsulate(new Uint8Array(64), { vni: 1, source: { mac: 'a', ip: 'b' }, destination: { mac: 'c', ip: 'd' } });
const decoded: VxlanFrame = decapsulate(frame, { strict: true });
const code: string = new DecodeError('TRUNCATED', 'udp', 3).code;
export { decoded, code };
`;
  writeFileSync(join(dir, 'esm.mts'), usage);
  writeFileSync(join(dir, 'cjs.cts'), usage);
  // Resolve 'vxlan-wasm' through node_modules, as an installed package would be.
  mkdirSync(join(dir, 'node_modules'));
  symlinkSync(root, join(dir, 'node_modules', 'vxlan-wasm'));
  writeFileSync(join(dir, 'tsconfig.json'), JSON.stringify({
    compilerOptions: { module: 'node16', moduleResolution: 'node16', strict: true, noEmit: true, types: [], lib: ['ES2022', 'DOM'] },
    files: ['esm.mts', 'cjs.cts'],
  }));
  try {
    execFileSync(process.execPath, [join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', dir], { encoding: 'utf8' });
  } catch (error) {
    assert.unreachable(`tsc failed:\n${(error as { stdout?: string }).stdout}`);
  }
});

test('the WASM is in dist/ once per module format: the codec, the forwarder and the CLI share it instead of each carrying a copy', () => {
  const files = (dir: string): string[] => readdirSync(join(root, dir), { withFileTypes: true })
    .flatMap((entry) => (entry.isDirectory() ? files(join(dir, entry.name)) : [join(dir, entry.name)]));
  // "AGFzbQ" is base64 for the WASM magic "\0asm": the embedded modules start with it.
  const carriers = files('dist').filter((file) => /\.(mjs|cjs)$/.test(file) && readFileSync(join(root, file), 'utf8').includes('AGFzbQ'));
  assert.is(carriers.length, 2, `one ESM and one CJS file carry the WASM, found: ${carriers.join(', ')}`);
  assert.ok(carriers.some((file) => file.endsWith('.mjs')) && carriers.some((file) => file.endsWith('.cjs')), carriers.join(', '));
  for (const entry of ['cli.mjs', 'forwarder.mjs', 'forwarder.cjs', 'index.mjs']) {
    assert.not.ok(carriers.includes(join('dist', entry)), `dist/${entry} imports the shared chunk instead of embedding the WASM`);
  }
  const cliSize = statSync(join(root, 'dist', 'cli.mjs')).size;
  // The commands' own code (decode, forward: config, metrics, logs; demo) is ~110 kB; a second copy
  // of the codec with its two WASM builds would add ~170 kB more.
  assert.ok(cliSize < 200_000, `dist/cli.mjs is ${cliSize} bytes`);
  // And it still works, through the library: decode a capture, run the demo's loopback tunnel.
  const decoded = node([join(root, 'bin', 'vxlan-wasm.mjs'), 'decode', join(root, 'test', 'fixtures', 'pcap', 'vxlan-arp.pcap')]);
  assert.match(decoded, /^1 .* VXLAN vni 42 inner 42 B .* ARP request/);
  // The demo keeps its capture for the user; here it goes into this test's own temporary directory.
  const capture = join(temporaryDir('vxlan-package-demo-'), 'overlay.pcap');
  assert.match(node([join(root, 'bin', 'vxlan-wasm.mjs'), 'demo', '--count', '1', '--pcap', capture]), /^all checks passed/m);
  assert.ok(existsSync(capture), 'the capture went where --pcap said');
});

test('the CNI plugin bin (package.json "bin": vxlan-wasm-cni) runs from dist/cni.mjs: VERSION, and the spec\'s error JSON with exit 1', () => {
  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
  assert.is(pkg.bin['vxlan-wasm-cni'], './bin/vxlan-wasm-cni.mjs');
  const run = (env: Record<string, string>, input: string) => spawnSync(process.execPath, [join(root, 'bin', 'vxlan-wasm-cni.mjs')], { cwd: root, input, env: { ...process.env, ...env }, encoding: 'utf8' });
  const version = run({ CNI_COMMAND: 'VERSION' }, '{"cniVersion": "1.0.0"}');
  assert.is(version.status, 0, version.stderr);
  assert.ok(JSON.parse(version.stdout).supportedVersions.includes('1.0.0'), version.stdout);
  const refused = run({ CNI_COMMAND: 'ADD', CNI_CONTAINERID: 'c1', CNI_NETNS: '/run/netns/none', CNI_IFNAME: 'eth0' }, '{"cniVersion": "1.0.0", "name": "blue", "type": "bridge"}');
  assert.is(refused.status, 1, refused.stderr);
  assert.is(JSON.parse(refused.stdout).code, 7);
});

test('LICENSE (MIT), repository, homepage and bugs are in the package, and npm pack ships them', () => {
  const license = readFileSync(join(root, 'LICENSE'), 'utf8');
  assert.match(license, /^MIT License\n\nCopyright \(c\) the vxlan-wasm authors\n/);
  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
  assert.is(pkg.license, 'MIT');
  assert.equal(pkg.repository, { type: 'git', url: 'git+https://github.com/vxlan-wasm/vxlan-wasm.git' });
  assert.is(pkg.homepage, 'https://github.com/vxlan-wasm/vxlan-wasm#readme');
  assert.equal(pkg.bugs, { url: 'https://github.com/vxlan-wasm/vxlan-wasm/issues' });
  const [packed] = JSON.parse(execFileSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: root, encoding: 'utf8' }));
  const files = packed.files.map((file: { path: string }) => file.path);
  for (const file of ['LICENSE', 'README.md', 'package.json', 'bin/vxlan-wasm.mjs', 'bin/vxlan-wasm-cni.mjs', 'dist/index.mjs', 'dist/index.cjs', 'dist/cli.mjs', 'dist/cni.mjs']) {
    assert.ok(files.includes(file), `npm pack ships ${file}`);
  }
});

test.after(removeTemporaryDirs);

test.run();
