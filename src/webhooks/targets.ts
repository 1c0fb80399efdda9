import { Resolver } from 'node:dns/promises';
import type { LookupAddress } from 'node:dns';
import { BlockList, isIP } from 'node:net';

/** Why a URL cannot receive webhooks; a message for the ADMIN who typed it. */
export class RefusedTarget extends Error {}

/**
 * Addresses no webhook may reach unless WEBHOOK_ALLOW_PRIVATE_TARGETS: this host, the private and
 * shared networks, link-local (cloud metadata lives at 169.254.169.254), and what is not unicast.
 */
const PRIVATE = new BlockList();
for (const [network, prefix] of [
  ['0.0.0.0', 8],
  ['10.0.0.0', 8],
  ['100.64.0.0', 10],
  ['127.0.0.0', 8],
  ['169.254.0.0', 16],
  ['172.16.0.0', 12],
  ['192.0.0.0', 24],
  ['192.168.0.0', 16],
  ['198.18.0.0', 15],
  ['224.0.0.0', 4],
  ['240.0.0.0', 4],
] as const) {
  PRIVATE.addSubnet(network, prefix, 'ipv4');
}
for (const [network, prefix] of [
  ['::', 128],
  ['::1', 128],
  ['64:ff9b::', 96],
  ['64:ff9b:1::', 48],
  ['2002::', 16],
  ['fc00::', 7],
  ['fe80::', 10],
  ['fec0::', 10],
  ['ff00::', 8],
] as const) {
  PRIVATE.addSubnet(network, prefix, 'ipv6');
}

/** IPv4-mapped and -compatible IPv6 (`::ffff:127.0.0.1`) reach the IPv4 address inside. */
const MAPPED = /^::(?:ffff:)?(\d+\.\d+\.\d+\.\d+)$/i;

/** Whether `address` (an IP literal) is private in the sense above. */
export function isPrivateAddress(address: string): boolean {
  const mapped = MAPPED.exec(address);
  if (mapped) return isPrivateAddress(mapped[1]);
  const family = isIP(address);
  if (family === 0) return true;
  return PRIVATE.check(address, family === 4 ? 'ipv4' : 'ipv6');
}

const MAX_URL_LENGTH = 2_000;

/** Parses and checks a webhook URL as it is saved: http(s), no credentials, a host. Throws RefusedTarget. */
export function parseTargetUrl(text: string): URL {
  if (text.length > MAX_URL_LENGTH) throw new RefusedTarget(`url must be at most ${MAX_URL_LENGTH} characters.`);
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new RefusedTarget(`url ${JSON.stringify(text.slice(0, 100))} is not an absolute URL.`);
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new RefusedTarget(`url must be http or https, not ${url.protocol.slice(0, -1)}.`);
  if (url.username || url.password) throw new RefusedTarget('url must not carry a user name or password.');
  if (!url.hostname) throw new RefusedTarget('url must name a host.');
  return url;
}

/** Longest a host's resolution may take, at save or at an attempt. */
export const DNS_TIMEOUT_MS = 5_000;

/**
 * Names are resolved by DNS (c-ares), not getaddrinfo: that would queue on libuv's four threads,
 * which scrypt (passwords) needs too, and a receiver's slow name server would stall sign-ins. The
 * hosts file is not read: a webhook goes to a name the world can resolve.
 */
const resolver = new Resolver({ timeout: 2_000, tries: 2 });

async function resolveName(host: string): Promise<LookupAddress[]> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(Object.assign(new Error('timed out'), { code: 'ETIMEOUT' })), DNS_TIMEOUT_MS);
  });
  try {
    const [v4, v6] = await Promise.race([Promise.allSettled([resolver.resolve4(host), resolver.resolve6(host)]), timeout]);
    const addresses = [
      ...(v4.status === 'fulfilled' ? v4.value.map((address) => ({ address, family: 4 })) : []),
      ...(v6.status === 'fulfilled' ? v6.value.map((address) => ({ address, family: 6 })) : []),
    ];
    if (addresses.length === 0) throw v4.status === 'rejected' ? v4.reason : new Error('no address');
    return addresses;
  } finally {
    clearTimeout(timer);
  }
}

/** The host of a URL as resolvers and `isIP` take it: no brackets around an IPv6 literal. */
export const hostOf = (url: URL): string => url.hostname.replace(/^\[(.*)\]$/, '$1');

/**
 * The addresses a host resolves to, each checked: one private address refuses the whole host
 * (a name that resolves to both could be steered to either). Throws RefusedTarget.
 */
export async function resolveTarget(host: string, allowPrivate: boolean): Promise<LookupAddress[]> {
  let addresses: LookupAddress[];
  if (isIP(host)) addresses = [{ address: host, family: isIP(host) }];
  else {
    try {
      addresses = await resolveName(host);
    } catch (error) {
      throw new RefusedTarget(`host ${host} does not resolve (${(error as NodeJS.ErrnoException).code ?? 'lookup failed'}).`);
    }
  }
  if (!allowPrivate) {
    const refused = addresses.find(({ address }) => isPrivateAddress(address));
    if (refused) throw new RefusedTarget(`host ${host} resolves to ${refused.address}, a private, loopback or link-local address.`);
  }
  return addresses;
}

/** Checks a URL as it is saved: its form, then where its host resolves now. */
export async function checkTarget(text: string, allowPrivate: boolean): Promise<URL> {
  const url = parseTargetUrl(text);
  await resolveTarget(hostOf(url), allowPrivate);
  return url;
}
