import { once } from 'node:events';
import { createServer, request } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

/**
 * An HTTP pass-through in front of a real opencode that a test can cut: `cut()` drops every open
 * connection (the SSE stream included) and answers 503 until `restore()`; `delay(ms)` makes it slow.
 * Fault injection for the agent's SSE re-subscribe, reconcile and deadlines, with the real server
 * behind it.
 */
export interface CuttingProxy {
  url: string;
  /** Every request that reached the proxy, as `METHOD /path` (query dropped), in arrival order. */
  requests: string[];
  cut(): void;
  restore(): void;
  /**
   * From now on an event-stream request gets its 200 headers at once but reaches opencode only
   * `ms` later — as opencode itself answers before it has subscribed to its bus. 0 turns it off.
   */
  lagEventStream(ms: number): void;
  /**
   * From now on every other request (not an event stream) reaches opencode `ms` after it reached
   * the proxy — a slow or hung opencode. 0 turns it off; a request already waiting keeps its delay.
   */
  delay(ms: number): void;
  stop(): Promise<void>;
}

export async function startCuttingProxy(target: string): Promise<CuttingProxy> {
  const upstream = new URL(target);
  const sockets = new Set<Socket>();
  let down = false;
  let lagMs = 0;
  let delayMs = 0;
  const requests: string[] = [];
  const server = createServer((req, res) => {
    requests.push(`${req.method} ${(req.url ?? '').split('?')[0]}`);
    if (down) {
      res.writeHead(503).end('cut');
      return;
    }
    const isStream = req.method === 'GET' && /^\/(global\/)?event(\?|$)/.test(req.url ?? '');
    if (isStream && lagMs > 0) {
      res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
      res.flushHeaders();
      const timer = setTimeout(() => {
        const up = request(
          { host: upstream.hostname, port: upstream.port, path: req.url, headers: req.headers },
          (r) => r.pipe(res),
        );
        up.on('error', () => res.destroy());
        up.end();
        res.once('close', () => up.destroy());
      }, lagMs);
      res.once('close', () => clearTimeout(timer));
      return;
    }
    const forward = () => {
      const up = request(
        {
          host: upstream.hostname,
          port: upstream.port,
          path: req.url,
          method: req.method,
          headers: req.headers,
        },
        (r) => {
          res.writeHead(r.statusCode ?? 502, r.headers);
          r.pipe(res);
        },
      );
      up.on('error', () => res.destroy());
      req.pipe(up);
    };
    if (isStream || delayMs === 0) {
      forward();
      return;
    }
    // The body waits in the socket meanwhile; a client that gives up (or a cut) cancels it.
    const timer = setTimeout(forward, delayMs);
    res.once('close', () => clearTimeout(timer));
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.once('close', () => sockets.delete(s));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    cut() {
      down = true;
      for (const s of sockets) s.destroy();
    },
    restore() {
      down = false;
    },
    lagEventStream(ms) {
      lagMs = ms;
    },
    delay(ms) {
      delayMs = ms;
    },
    async stop() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}
