import { isIP } from 'node:net';

function isLoopback(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '').toLowerCase();
  if (h === 'localhost' || h.endsWith('.localhost')) return true;
  if (isIP(h) === 4) return h.startsWith('127.');
  if (isIP(h) === 6) return h === '::1' || h.startsWith('::ffff:127.');
  return false;
}

/**
 * A warning when the agent would send its token and every event in clear text over a network:
 * `ws://` to anything but loopback. Loopback (the all-in-one install, `npm start`) is fine; any
 * other host wants `wss://` — the gateway's own TLS or a reverse proxy (docs/DEPLOYMENT.md).
 */
export function plaintextSupervisorWarning(url: string): string | undefined {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return undefined;
  }
  if (parsed.protocol !== 'ws:' || isLoopback(parsed.hostname)) return undefined;
  return `supervisor_url uses ws:// to ${parsed.hostname}, which is not this host: the auth token and every event cross the network unencrypted; use wss:// (gateway TLS or a reverse proxy, see docs/DEPLOYMENT.md)`;
}
