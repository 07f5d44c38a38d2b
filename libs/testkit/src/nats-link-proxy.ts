import { once } from 'node:events';
import { type AddressInfo, connect, createServer, type Socket } from 'node:net';

/**
 * A TCP pass-through between one client and nats-server that a test can slow down without
 * closing anything — the connection stays open, as NATS sees a lagging or hung peer:
 *
 * - `hold()`: what the server sends waits (a watch or an answer falls behind) until `release()`;
 *   what the client sends still goes out, and is kept for `sentWhileHeld()`.
 * - `freeze()`: nothing moves either way until `stop()` — a stopped VM or a partition: the server
 *   keeps delivering to the frozen side and hears nothing back (no ack, no lease renewal).
 */
export interface NatsLinkProxy {
  url: string;
  hold(): void;
  /** What the client sent to NATS since `hold()`, as latin1 text (protocol lines and subjects). */
  sentWhileHeld(): string;
  release(): void;
  freeze(): void;
  stop(): Promise<void>;
}

export async function startNatsLinkProxy(target: string): Promise<NatsLinkProxy> {
  const { hostname, port } = new URL(target);
  let held: Array<() => void> | undefined;
  let sentWhileHeld = '';
  let frozen = false;
  const sockets = new Set<Socket>();
  const server = createServer((client) => {
    const upstream = connect(Number(port), hostname);
    sockets.add(client).add(upstream);
    client.on('data', (d) => {
      if (frozen) return;
      if (held !== undefined) sentWhileHeld += d.toString('latin1');
      upstream.write(d);
    });
    upstream.on('data', (d) => {
      if (frozen) return;
      if (held === undefined) client.write(d);
      else held.push(() => client.write(d));
    });
    const end = () => {
      client.destroy();
      upstream.destroy();
    };
    for (const s of [client, upstream]) s.on('error', end).on('close', end);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    url: `nats://127.0.0.1:${(server.address() as AddressInfo).port}`,
    hold() {
      held = [];
      sentWhileHeld = '';
    },
    sentWhileHeld: () => sentWhileHeld,
    release() {
      for (const write of held ?? []) write();
      held = undefined;
    },
    freeze() {
      frozen = true;
    },
    async stop() {
      for (const s of sockets) s.destroy();
      server.close();
      await once(server, 'close');
    },
  };
}
