import type { IncomingMessage } from 'node:http';
import ipaddr from 'ipaddr.js';
import proxyaddr from 'proxy-addr';

/**
 * The client's address for one request or WebSocket upgrade. X-Forwarded-For is believed only as
 * far as `trustProxy` says (TRUST_PROXY), exactly as Express's `trust proxy` setting does, so a
 * client cannot pick its own rate-limit identity by sending the header.
 */
export function createClientAddress(trustProxy: false | number | string[]): (request: IncomingMessage) => string {
  const trust = trustProxy === false ? () => false : typeof trustProxy === 'number' ? (_address: string, hop: number) => hop < trustProxy : proxyaddr.compile(trustProxy);
  return (request) => proxyaddr(request, trust);
}

/**
 * What an address counts as for per-address limits: an IPv4 address (also when written as an
 * IPv4-mapped IPv6 one), or the /64 network of an IPv6 address, which one subscriber usually
 * holds whole. Anything that does not parse counts as itself.
 */
export function addressKey(address: string): string {
  const bare = address.replace(/%.*$/, '');
  if (!ipaddr.isValid(bare)) return address;
  const parsed = ipaddr.process(bare);
  if (parsed.kind() === 'ipv4') return parsed.toString();
  const network = (parsed as ipaddr.IPv6).parts.slice(0, 4).map((part) => part.toString(16));
  return `${network.join(':')}::/64`;
}
