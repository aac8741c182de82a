/**
 * The plugin's HTTP server on a unix socket (Docker finds `/run/docker/plugins/NAME.sock` and
 * POSTs `/Plugin.Activate`, `/NetworkDriver.*`, `/IpamDriver.*`). It only moves JSON: each path
 * maps to one handler; a handler's refusal (any error) becomes HTTP 200 with the message under
 * the key that protocol reads: `Err` for the network driver (libnetwork's remote `Response.Err`),
 * `Error` for IPAM (ipams/remote's `Response` has an untagged `Error` field: an `Err` there is
 * ignored and Docker says "No address returned" instead of the reason). An unknown path is a
 * 404 (Docker then treats the call as not implemented).
 *
 * Calls are handled one at a time, in arrival order: Docker may overlap calls (two `docker run`
 * at once), and a handler that awaits etcd must not interleave with another that changes the
 * same network's state. The driver's calls take milliseconds; a queue costs nothing that matters.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { chmodSync, mkdirSync, rmSync } from 'node:fs';
import { dirname } from 'node:path';
import { parseBody, ProtocolError, type Json } from './protocol';

export type Handler = (body: Json) => Json | Promise<Json>;

export interface PluginServerOptions {
  socketPath: string;
  handlers: Record<string, Handler>;
  /** Turn a handler's error into the sentence Docker shows (default: its message). */
  describe?: (error: unknown, path: string) => string;
  /** Told each call: path, milliseconds, the refusal if any. */
  onCall?: (path: string, ms: number, err?: string) => void;
  /** Largest request body accepted (default 1 MiB). */
  maxBodyBytes?: number;
}

export class PluginServer {
  private queue: Promise<unknown> = Promise.resolve();

  private constructor(private readonly server: Server, readonly socketPath: string) {}

  /** Listen on the socket (a stale socket file from a dead run is replaced). */
  static async listen(options: PluginServerOptions): Promise<PluginServer> {
    mkdirSync(dirname(options.socketPath), { recursive: true });
    rmSync(options.socketPath, { force: true });
    let plugin: PluginServer | undefined;
    const server = createServer((request, response) => plugin!.serve(request, response, options));
    plugin = new PluginServer(server, options.socketPath);
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(options.socketPath, () => {
        server.off('error', reject);
        resolve();
      });
    });
    // dockerd runs as root; nobody else has business on this socket.
    chmodSync(options.socketPath, 0o600);
    return plugin;
  }

  private serve(request: IncomingMessage, response: ServerResponse, options: PluginServerOptions): void {
    const chunks: Buffer[] = [];
    let size = 0;
    let tooBig = false;
    request.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > (options.maxBodyBytes ?? 1 << 20)) tooBig = true;
      else chunks.push(chunk);
    });
    request.on('end', () => {
      const path = (request.url ?? '').replace(/^\//, '').replace(/\?.*$/, '');
      const handler = Object.prototype.hasOwnProperty.call(options.handlers, path) ? options.handlers[path] : undefined;
      const send = (status: number, body: Json) => {
        const text = JSON.stringify(body);
        response.writeHead(status, { 'Content-Type': 'application/vnd.docker.plugins.v1.2+json', 'Content-Length': Buffer.byteLength(text) });
        response.end(text);
      };
      if (request.method !== 'POST' || handler === undefined) {
        send(404, { Err: `${request.method} /${path} is not a call of this plugin` });
        return;
      }
      const started = performance.now();
      const run = async (): Promise<void> => {
        try {
          if (tooBig) throw new ProtocolError('the request body is too large');
          const body = parseBody(Buffer.concat(chunks).toString('utf8'));
          const result = await handler(body);
          options.onCall?.(path, performance.now() - started);
          send(200, result);
        } catch (error) {
          const message = options.describe?.(error, path) ?? (error as Error).message ?? String(error);
          options.onCall?.(path, performance.now() - started, message);
          send(200, path.startsWith('IpamDriver.') ? { Error: message } : { Err: message });
        }
      };
      const next = this.queue.then(run, run);
      this.queue = next.catch(() => undefined);
    });
    request.on('error', () => response.destroy());
  }

  /** Stop listening and remove the socket (Docker then finds no plugin there). */
  async close(): Promise<void> {
    await new Promise<void>((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
    rmSync(this.socketPath, { force: true });
  }
}
