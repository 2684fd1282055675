// The client address stored with a pageview. The socket's peer address is the truth; X-Forwarded-For and
// X-Real-IP are client-controlled headers and count only when TRUST_PROXY says the peer is a proxy.
//
// X-Forwarded-For is walked from the right, as proxy-addr does for Express and Fastify: each proxy appends the
// address it received the request from, so the entries a client wrote itself are on the left and the client
// address is the right-most entry that is not a trusted proxy. TRUST_PROXY=true trusts every hop (the left-most
// entry wins, which the client controls: use a list of proxies where a client can reach the service past them).
// X-Real-IP (one address, set by nginx and similar) counts only when no X-Forwarded-For came with the request.
//
// Whatever is chosen becomes a column value in a multi-row INSERT, so it is bounded here: an IP address in text
// form without an IPv6 zone id (`fe80::1%eth0` passes isIP with a zone of any length, and a zone means nothing
// off this host), at most MAX_REMOTE_IP_LENGTH characters; anything else falls back to the hop that delivered it.
import { isIP } from 'node:net';
import proxyaddr from '@fastify/proxy-addr';
import type { FastifyRequest } from 'fastify';
import type { TrustProxy } from '../config';

/** The longest IP address text (`ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255`, INET6_ADDRSTRLEN - 1). */
export const MAX_REMOTE_IP_LENGTH = 45;

/** A plain, bounded address: zone id dropped, IPv4-mapped IPv6 as IPv4; '' when `ip` is no IP address. */
export function normalizeIp(ip: string): string {
  const pct = ip.indexOf('%');
  const bare = pct === -1 ? ip : ip.slice(0, pct);
  if (bare.length > MAX_REMOTE_IP_LENGTH) return '';
  const family = isIP(bare);
  if (family === 0) return '';
  if (family === 6 && bare.length > 7 && bare.slice(0, 7).toLowerCase() === '::ffff:' && isIP(bare.slice(7)) === 4) return bare.slice(7);
  return bare;
}

export type TrustFn = (addr: string, hop: number) => boolean;

/** TRUST_PROXY as proxy-addr's trust function (config.ts has checked that the list compiles). */
export function trustFunction(trust: TrustProxy): TrustFn | undefined {
  if (trust === false) return undefined;
  if (trust === true) return () => true;
  return proxyaddr.compile([...trust]);
}

export function resolveRemoteIp(request: FastifyRequest, trust: TrustFn | undefined): string {
  const peer = normalizeIp(request.raw.socket.remoteAddress ?? '');
  if (trust === undefined || !trust(request.raw.socket.remoteAddress ?? '', 0)) return peer;
  const fwd = request.headers['x-forwarded-for'];
  if (typeof fwd !== 'string') {
    const real = request.headers['x-real-ip'];
    if (typeof real === 'string') return normalizeIp(real.trim()) || peer;
    return peer;
  }
  // The socket address, then each entry from the right, up to the first one that is not trusted.
  const hops = proxyaddr.all(request.raw, trust);
  for (let i = hops.length - 1; i > 0; i--) {
    const ip = normalizeIp(hops[i]!);
    if (ip !== '') return ip;
  }
  return peer;
}
