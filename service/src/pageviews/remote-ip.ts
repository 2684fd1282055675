// The client address stored with a pageview. The socket's peer address is the truth; X-Real-IP and
// X-Forwarded-For are client-controlled headers and count only when TRUST_PROXY says the peer is a proxy.
import { isIP } from 'node:net';
import type { FastifyRequest } from 'fastify';
import type { TrustProxy } from '../config';

function stripV4Mapped(ip: string): string {
  return ip.startsWith('::ffff:') && isIP(ip.slice(7)) === 4 ? ip.slice(7) : ip;
}

export function resolveRemoteIp(request: FastifyRequest, trust: TrustProxy): string {
  const peer = stripV4Mapped(request.raw.socket.remoteAddress ?? '');
  if (trust === false) return peer;
  if (trust !== true && !trust.includes(peer)) return peer;
  const real = request.headers['x-real-ip'];
  if (typeof real === 'string' && isIP(real.trim()) !== 0) return stripV4Mapped(real.trim());
  const fwd = request.headers['x-forwarded-for'];
  if (typeof fwd === 'string') {
    // The left-most entry is the original client as the first proxy saw it.
    const first = fwd.split(',')[0]?.trim() ?? '';
    if (isIP(first) !== 0) return stripV4Mapped(first);
  }
  return peer;
}
