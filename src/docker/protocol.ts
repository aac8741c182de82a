/**
 * Docker's remote network driver and IPAM driver protocols (libnetwork's "remote" and
 * "ipams/remote"): JSON over HTTP POST on a unix socket, one path per call, e.g.
 * `POST /NetworkDriver.CreateEndpoint`. Every answer is HTTP 200 with a JSON object; a refusal is
 * `{"Err": "sentence"}` (IPAM: `{"Error": "sentence"}`), which Docker shows the user as the
 * command's error.
 *
 * What Docker sends (Debian docker.io 20.10, captured): no network NAME ever reaches a driver,
 * and each daemon has its own network ids; container names and aliases reach it neither (they are
 * read from the daemon's API: docker-api.ts).
 *
 *   IpamDriver.RequestPool      {AddressSpace, Pool, SubPool, Options, V6}    → {PoolID, Pool, Data}
 *   IpamDriver.RequestAddress   {PoolID, Address, Options: {RequestAddressType?} | null} → {Address: "IP/LEN", Data}
 *   IpamDriver.ReleaseAddress   {PoolID, Address}                              → {}
 *   IpamDriver.ReleasePool      {PoolID}                                       → {}
 *   NetworkDriver.CreateNetwork {NetworkID, Options: {"com.docker.network.generic": {-o k=v}, …},
 *                                IPv4Data: [{AddressSpace, Pool, Gateway: "IP/LEN"}], IPv6Data} → {}
 *   NetworkDriver.CreateEndpoint {NetworkID, EndpointID, Interface: {Address, AddressIPv6, MacAddress}, Options}
 *                                → {Interface: {MacAddress?}} (only what Docker did not give)
 *   NetworkDriver.Join          {NetworkID, EndpointID, SandboxKey, Options}
 *                                → {InterfaceName: {SrcName, DstPrefix}, DisableGatewayService?}
 *   NetworkDriver.Leave / DeleteEndpoint {NetworkID, EndpointID} → {};  DeleteNetwork {NetworkID} → {}
 *
 * Validation happens here, once, at the edge: a handler gets typed fields or the request is
 * refused with a sentence naming the field (a ProtocolError).
 */
import { canonicalIp } from '../forwarder/address-set';

/** A request that is not what the protocol says (Err back to Docker). */
export class ProtocolError extends Error {
  override readonly name = 'ProtocolError';
}

export const DRIVER_NAME = 'vxlan-wasm';
export const DEFAULT_SOCKET = `/run/docker/plugins/${DRIVER_NAME}.sock`;
/** Options given with `docker network create -o KEY=VALUE`. */
export const OPTION_VNI = 'vxlan-wasm.vni';
export const OPTION_NETWORK = 'vxlan-wasm.network';
export const OPTION_INTERNAL = 'vxlan-wasm.internal';
export const GENERIC_OPTIONS = 'com.docker.network.generic';
/** RequestAddress's Options.RequestAddressType for the gateway. */
export const GATEWAY_REQUEST = 'com.docker.network.gateway';

export type Json = Record<string, unknown>;

const isObject = (value: unknown): value is Json => typeof value === 'object' && value !== null && !Array.isArray(value);

/** The request body as an object (an empty body is {}: Docker sends none for Activate and GetCapabilities). */
export function parseBody(text: string): Json {
  if (text.trim() === '') return {};
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new ProtocolError('the request body is not JSON');
  }
  if (!isObject(value)) throw new ProtocolError('the request body is not a JSON object');
  return value;
}

/** Docker's ids: 64 hex digits (accept what a test or an older daemon sends: 1..128 of [0-9a-zA-Z_.-]). */
const ID = /^[A-Za-z0-9_.-]{1,128}$/;

export function id(body: Json, field: string): string {
  const value = body[field];
  if (typeof value !== 'string' || !ID.test(value)) throw new ProtocolError(`${field} is missing or not an id`);
  return value;
}

export function text(body: Json, field: string): string {
  const value = body[field];
  if (value === undefined || value === null) return '';
  if (typeof value !== 'string') throw new ProtocolError(`${field} is not a string`);
  return value;
}

export function object(body: Json, field: string): Json {
  const value = body[field];
  if (value === undefined || value === null) return {};
  if (!isObject(value)) throw new ProtocolError(`${field} is not an object`);
  return value;
}

export function array(body: Json, field: string): Json[] {
  const value = body[field];
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value) || !value.every(isObject)) throw new ProtocolError(`${field} is not a list of objects`);
  return value as Json[];
}

/** The `-o KEY=VALUE` options of a CreateNetwork (strings by Docker; anything else refused). */
export function genericOptions(body: Json): Record<string, string> {
  const options = object(object(body, 'Options'), GENERIC_OPTIONS);
  const out: Record<string, string> = {};
  for (const [key, value] of Object.entries(options)) {
    if (typeof value === 'string') out[key] = value;
    else if (typeof value === 'boolean' || typeof value === 'number') out[key] = String(value);
    else throw new ProtocolError(`option ${key} is not a string`);
  }
  return out;
}

/** "10.0.9.2/24" → its address and length; "10.0.9.2" → the address alone (IPv6 too: canonical text). */
export function splitCidr(value: string, field: string): { ip: string; prefixLength?: number } {
  const match = /^([0-9.]+)(?:\/([0-9]{1,2}))?$/.exec(value);
  if (match !== null) return { ip: match[1], prefixLength: match[2] === undefined ? undefined : Number(match[2]) };
  const six = /^([0-9A-Fa-f:.]*:[0-9A-Fa-f:.]*)(?:\/([0-9]{1,3}))?$/.exec(value);
  if (six !== null) {
    try {
      return { ip: canonicalIp(six[1]), prefixLength: six[2] === undefined ? undefined : Number(six[2]) };
    } catch {
      // Falls through to the sentence below.
    }
  }
  throw new ProtocolError(`${field} ${JSON.stringify(value)} is not an IPv4 address${value.includes(':') ? ' or an IPv6 one' : ''}`);
}

