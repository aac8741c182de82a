// The package in a real browser: esbuild bundles the library (from its sources) and the example
// pcap viewer, node:http serves them on 127.0.0.1, and headless Chromium (Debian's `chromium`,
// driven by playwright-core) loads them. The page runs checksum, encapsulate, encapsulateInto,
// decapsulate and readPcap on the wasm-simd and wasm-scalar builds, and its answers must equal
// Node's to the byte. Then the viewer in examples/pcap-viewer/ gets a capture on its file input,
// and each frame it lists must say what decapsulate says in Node.
//
// Without Chromium: as root (CI, which installs it) the test fails; otherwise it is skipped loudly.
import { existsSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import * as lib from '../../src/index';
import { hex } from '../helpers/bytes';
import { innerFrame, ipv4Frame, PEERS } from '../helpers/frames';
import { runProbe, type ProbeInput } from './probe';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
/** Debian's binary (the /usr/bin/chromium wrapper only adds flags), or CHROMIUM_PATH. */
const CHROMIUM = [process.env.CHROMIUM_PATH, '/usr/lib/chromium/chromium', '/usr/bin/chromium', '/usr/bin/chromium-headless-shell']
  .find((path): path is string => path !== undefined && existsSync(path));
const isRoot = process.getuid?.() === 0;
const WASM_BACKENDS = ['wasm-simd', 'wasm-scalar'] as const;

const test = suite('browser/chromium');

if (CHROMIUM === undefined && !isRoot) {
  console.error('\n!!! no Chromium here (Debian packages chromium, or set CHROMIUM_PATH): the browser tests are SKIPPED\n');
} else {
  /** The page's files, bundled once in memory. */
  const files = new Map<string, { type: string; body: string | Uint8Array }>();
  let server: Server;
  let origin: string;
  let browser: import('playwright-core').Browser;

  // Frames of every kind of tunnel, plus a corrupted one, in a capture both sides read.
  const inner = innerFrame(120);
  const corrupted = ipv4Frame({ vni: 5 });
  corrupted[corrupted.length - 1] ^= 1;
  lib.useBackend('reference');
  const captureFrames = [...PEERS.map((tunnel) => lib.encapsulate(inner, tunnel)), corrupted, innerFrame(60)];
  const capture = lib.writePcap(captureFrames.map((data, i) => ({ data, timestampNs: 1_700_000_000_000_000_000n + BigInt(i) * 1000n })));
  const input: ProbeInput = {
    data: hex(innerFrame(1501, 7)), // odd length: the last byte is padded
    inner: hex(inner),
    tunnels: PEERS.map((tunnel) => ({ ...tunnel, source: { ...tunnel.source, port: tunnel.source.port ?? 50001 } })),
    pcap: hex(capture),
  };

  test.before(async () => {
    if (CHROMIUM === undefined) throw new Error('no Chromium at /usr/lib/chromium/chromium or /usr/bin/chromium (CHROMIUM_PATH unset): as root this must run; install the Debian package chromium');
    let playwright: typeof import('playwright-core');
    try {
      playwright = await import('playwright-core');
    } catch (error) {
      throw new Error(`playwright-core is not installed (a devDependency): ${(error as Error).message}`);
    }
    const bundled = await build({
      entryPoints: {
        'vxlan-wasm-page': fileURLToPath(new URL('./page-entry.ts', import.meta.url)),
        'examples/pcap-viewer/viewer': `${ROOT}examples/pcap-viewer/viewer.ts`,
      },
      alias: { 'vxlan-wasm': `${ROOT}src/index.ts` },
      bundle: true,
      format: 'esm',
      platform: 'browser',
      target: 'es2022',
      write: false,
      outdir: '/',
      logLevel: 'silent',
    });
    for (const output of bundled.outputFiles) files.set(output.path, { type: 'text/javascript', body: output.contents });
    files.set('/index.html', { type: 'text/html', body: '<!doctype html><meta charset="utf-8"><script type="module" src="/vxlan-wasm-page.js"></script>' });
    files.set('/examples/pcap-viewer/index.html', { type: 'text/html', body: await import('node:fs/promises').then((fs) => fs.readFile(`${ROOT}examples/pcap-viewer/index.html`)) });
    server = createServer((request, response) => {
      const file = files.get(new URL(request.url ?? '/', 'http://x').pathname);
      if (file === undefined) {
        response.writeHead(404).end();
        return;
      }
      response.writeHead(200, { 'content-type': file.type }).end(file.body);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    browser = await playwright.chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'], headless: true });
  });

  test.after(async () => {
    await browser?.close();
    await new Promise((resolve) => server?.close(resolve));
  });

  test('the bundle answers in Chromium exactly as in Node, on the SIMD and the scalar build', async () => {
    const page = await browser.newPage();
    const problems: string[] = [];
    page.on('pageerror', (error) => problems.push(error.message));
    await page.goto(`${origin}/index.html`);
    await page.waitForFunction(() => 'probe' in window);
    assert.is(await page.evaluate(() => (window as unknown as { ready: () => Promise<string> }).ready()), 'wasm-simd', 'ready() picks the SIMD build in Chromium');
    for (const backend of WASM_BACKENDS) {
      const inBrowser = await page.evaluate(
        ([name, probeInput]) => (window as unknown as { probe: (b: string, i: ProbeInput) => unknown }).probe(name, probeInput),
        [backend, input] as const,
      );
      const inNode = runProbe(lib, backend, input) as { encapsulated: { headerValid: boolean; written: number }[]; corrupted: unknown; pcap: { packets: unknown[] } };
      assert.equal(inBrowser, inNode, backend);
      // And the answers are the right ones, not merely equal.
      assert.is((inBrowser as { backend: string }).backend, backend);
      assert.ok(inNode.encapsulated.every((e) => e.headerValid), 'valid IPv4 header checksums');
      assert.equal(inNode.encapsulated.map((e) => e.written), PEERS.map((tunnel) => 120 + 14 + (tunnel.vlan ? 4 : 0) + (tunnel.source.ip.includes(':') ? 40 : 20) + 16));
      assert.equal(inNode.corrupted, { error: { code: 'BAD_UDP_CHECKSUM', layer: 'udp', offset: 40 } }); // the UDP checksum field
      assert.is(inNode.pcap.packets.length, captureFrames.length);
    }
    assert.equal(problems, [], 'no error on the page');
    await page.close();
  });

  test('the example pcap viewer lists every frame\'s layers or its DecodeError', async () => {
    const page = await browser.newPage();
    const problems: string[] = [];
    page.on('pageerror', (error) => problems.push(error.message));
    await page.goto(`${origin}/examples/pcap-viewer/index.html`);
    await page.waitForSelector('body[data-state="ready"]');
    assert.is(await page.getAttribute('body', 'data-backend'), 'wasm-simd');
    await page.setInputFiles('#capture', { name: 'tunnels.pcap', mimeType: 'application/vnd.tcpdump.pcap', buffer: Buffer.from(capture) });
    await page.waitForSelector('body[data-state="done"]');
    const items = await page.$$eval('#frames li', (lis) => lis.map((li) => ({ text: li.textContent ?? '', vni: li.getAttribute('data-vni'), code: li.getAttribute('data-code') })));
    assert.is(items.length, captureFrames.length);
    lib.useBackend('wasm-simd');
    captureFrames.forEach((data, i) => {
      try {
        const frame = lib.decapsulate(data);
        assert.is(items[i].vni, String(frame.vxlan.vni), `frame ${i}`);
        for (const part of [frame.ethernet.source, frame.ip.source, frame.ip.destination, `UDP ${frame.udp.sourcePort} → ${frame.udp.destinationPort}`, `inner ${frame.inner.length} bytes`]) {
          assert.ok(items[i].text.includes(part), `frame ${i}: "${items[i].text}" lacks "${part}"`);
        }
      } catch (error) {
        if (!(error instanceof lib.DecodeError)) throw error;
        assert.is(items[i].code, error.code, `frame ${i}`);
        assert.ok(items[i].text.includes(`DecodeError ${error.code} (${error.layer}, offset ${error.offset})`), items[i].text);
      }
    });
    // Both kinds of line were shown: decoded frames, and the corrupted one's error.
    assert.ok(items.filter((item) => item.vni !== null).length >= 3, 'several frames decoded');
    assert.is(items[PEERS.length].code, 'BAD_UDP_CHECKSUM');
    assert.ok((await page.textContent('#summary'))?.includes(`${captureFrames.length} packets`));
    assert.equal(problems, [], 'no error on the page');
    await page.close();
  });
}

test.run();
