// A page whose Content-Security-Policy lacks 'wasm-unsafe-eval' refuses every WebAssembly
// compilation with a CompileError. The library falls back to the reference backend there and
// says why. Each case runs in a child Node process whose WebAssembly refuses in the same way.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';

const root = join(dirname(fileURLToPath(import.meta.url)), '../..');

/** Compile, instantiate and the synchronous constructors all refuse, as under such a policy. */
const REFUSE_WASM = `
const refuse = () => { throw new WebAssembly.CompileError("Refused to compile or instantiate WebAssembly module because 'wasm-unsafe-eval' is not an allowed source of script in the following Content Security Policy directive: \\"script-src 'self'\\"") };
WebAssembly.Module = function Module() { refuse(); };
WebAssembly.Instance = function Instance() { refuse(); };
WebAssembly.compile = async () => refuse();
WebAssembly.instantiate = async () => refuse();
WebAssembly.compileStreaming = async () => refuse();
WebAssembly.instantiateStreaming = async () => refuse();
`;

/** Encapsulate and decapsulate one frame; print the backend, the reason and the round trip as JSON. */
const ROUND_TRIP = `
const inner = new Uint8Array(60); inner.set([2, 0, 0, 0, 0, 0xbb, 2, 0, 0, 0, 0, 1, 0x88, 0xb5]); inner[59] = 0x5a;
const frame = api.encapsulate(inner, { vni: 77, source: { mac: '02:00:00:00:00:01', ip: '192.0.2.1' }, destination: { mac: '02:00:00:00:00:02', ip: '192.0.2.2' } });
const decoded = api.decapsulate(frame);
let refusedVerdict;
try { api.decapsulate(frame.subarray(0, 30)); } catch (error) { refusedVerdict = error.code; }
console.log(JSON.stringify({
  backend: api.backendName(), reason: api.backendFallbackReason(), vni: decoded.vxlan.vni,
  innerSame: decoded.inner.length === 60 && decoded.inner[59] === 0x5a, frameLength: frame.length,
  checksum: api.checksum(new Uint8Array([0x45, 0, 0, 0x1c])), refusedVerdict,
}));
`;

/**
 * Run `body` in a child with `api` (src/backend.ts and src/api.ts). The modules are imported
 * before WebAssembly is made to refuse (tsx and Node's module loader use WebAssembly
 * themselves); the library compiles nothing until its first call.
 */
function runChild(body: string, refuse = true): Record<string, unknown> {
  const imports = `const api = { ...(await import(${JSON.stringify(join(root, 'src/backend.ts'))})), ...(await import(${JSON.stringify(join(root, 'src/api.ts'))})) };`;
  const script = `${imports}\n${refuse ? REFUSE_WASM : ''}\n${body}`;
  const child = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { cwd: root, encoding: 'utf8', timeout: 60_000 });
  assert.is(child.status, 0, `the child failed: ${child.stderr}`);
  const lines = child.stdout.trim().split('\n');
  return JSON.parse(lines[lines.length - 1]) as Record<string, unknown>;
}

function assertFellBack(result: Record<string, unknown>, readyAnswer?: unknown): void {
  if (readyAnswer !== undefined) assert.is(readyAnswer, 'reference');
  assert.is(result.backend, 'reference');
  assert.match(String(result.reason), /CompileError/);
  assert.match(String(result.reason), /wasm-unsafe-eval/);
  assert.is(result.vni, 77);
  assert.is(result.innerSame, true);
  assert.is(result.frameLength, 60 + 50);
  assert.is(result.checksum, ~(0x4500 + 0x001c) & 0xffff);
  assert.is(result.refusedVerdict, 'TRUNCATED');
}

test('await ready() resolves "reference" where WebAssembly is refused; the API answers right', () => {
  const result = runChild(`const answer = await api.ready();\n${ROUND_TRIP.replace('console.log(JSON.stringify({', 'console.log(JSON.stringify({ answer,')}`);
  assertFellBack(result, result.answer);
});

test('without ready(), the first call falls back the same way (init() and defaultBackendName() do not throw)', () => {
  const result = runChild(`const answer = api.init();\nif (api.defaultBackendName() !== 'reference') throw new Error('defaultBackendName');\n${ROUND_TRIP.replace('console.log(JSON.stringify({', 'console.log(JSON.stringify({ answer,')}`);
  assertFellBack(result, result.answer);
});

test('with WebAssembly working, nothing falls back and there is no reason to give', () => {
  const result = runChild(`await api.ready();\n${ROUND_TRIP}`, false);
  assert.is(result.reason, undefined);
  assert.ok(result.backend === 'wasm-simd' || result.backend === 'wasm-scalar', String(result.backend));
  assert.is(result.vni, 77);
});

test.run();
