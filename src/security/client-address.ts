import type { IncomingMessage } from 'node:http';
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
