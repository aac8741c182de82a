/**
 * The pcap viewer's script: read the chosen capture with readPcap, decapsulate every packet,
 * and list each frame's layers or its DecodeError. Bundle it for the page (see README.md here).
 * The list it renders carries the same facts as data attributes, which test/browser/ reads.
 */
import { backendName, decapsulate, DecodeError, readPcap, ready } from 'vxlan-wasm';

const input = document.querySelector<HTMLInputElement>('#capture')!;
const summary = document.querySelector<HTMLElement>('#summary')!;
const list = document.querySelector<HTMLOListElement>('#frames')!;

/** One line per layer, outermost first: what a reader wants to see of a VXLAN frame. */
function describe(data: Uint8Array): { text: string; vni?: number; code?: string } {
  try {
    const frame = decapsulate(data);
    const { ethernet, ip, udp, vxlan, inner } = frame;
    const text = [
      `Ethernet ${ethernet.source} → ${ethernet.destination}`,
      `IPv${ip.version} ${ip.source} → ${ip.destination}`,
      `UDP ${udp.sourcePort} → ${udp.destinationPort}`,
      `VXLAN VNI ${vxlan.vni}`,
      `inner ${inner.length} bytes`,
    ].join(' | ');
    return { text, vni: vxlan.vni };
  } catch (error) {
    if (!(error instanceof DecodeError)) throw error;
    return { text: `DecodeError ${error.code} (${error.layer}, offset ${error.offset})`, code: error.code };
  }
}

async function show(file: File): Promise<void> {
  document.body.dataset.state = 'reading';
  list.replaceChildren();
  try {
    const capture = readPcap(new Uint8Array(await file.arrayBuffer()));
    for (const packet of capture.packets) {
      const item = document.createElement('li');
      const { text, vni, code } = describe(packet.data);
      item.textContent = text;
      if (vni !== undefined) item.dataset.vni = String(vni);
      if (code !== undefined) {
        item.dataset.code = code;
        item.className = 'error';
      }
      list.append(item);
    }
    summary.textContent = `${file.name}: ${capture.format}, ${capture.packets.length} packets, decoded by the ${backendName()} backend`;
  } catch (error) {
    summary.textContent = `${file.name} is not a capture this page reads: ${(error as Error).message}`;
  }
  document.body.dataset.state = 'done';
}

input.addEventListener('change', () => {
  const file = input.files?.[0];
  if (file !== undefined) void show(file);
});

// Compile the WebAssembly off the main thread's critical path before the first file comes.
await ready();
document.body.dataset.backend = backendName();
document.body.dataset.state = 'ready';
