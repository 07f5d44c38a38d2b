// An HTTP pass-through in front of the real opencode that a spine test can cut: `cut()` drops every
// open connection (the agent's SSE stream included) and answers 503 until `restore()`. Same idea
// as services/agent/test/cutting-proxy.ts (another workspace's test file, so not importable).
import { once } from 'node:events';
import { createServer, request } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

export interface OpencodeCut {
  url: string;
  cut(): void;
  restore(): void;
  stop(): Promise<void>;
}

export async function startOpencodeCut(target: string): Promise<OpencodeCut> {
  const upstream = new URL(target);
  const sockets = new Set<Socket>();
  let down = false;
  const server = createServer((req, res) => {
    if (down) {
      res.writeHead(503).end('cut');
      return;
    }
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
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.once('close', () => sockets.delete(s));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    cut() {
      down = true;
      for (const s of sockets) s.destroy();
    },
    restore() {
      down = false;
    },
    async stop() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}
