// The raw hops a command crosses, for baselines timed in the same seconds as the figure they
// divide (interleaved with it): a NATS request/reply and a WebSocket echo, each on its own.
import type { AddressInfo } from 'node:net';
import { connect } from '@nats-io/transport-node';
import { WebSocket, WebSocketServer } from 'ws';
import type { BenchContext } from '../harness.ts';
import { jsonPayload, nowMs } from '../stats.ts';

/** The raw hops, each timed on its own: NATS request/reply and a WebSocket echo. */
export async function rawHops(
  ctx: BenchContext,
  url: string,
): Promise<{ nats(): Promise<void>; ws(): Promise<void> }> {
  const payload = jsonPayload();
  const server = await connect({ servers: url });
  const client = await connect({ servers: url });
  ctx.defer(() => Promise.all([server.close(), client.close()]));
  server.subscribe('bench.cmd.rr', {
    callback: (_err, msg) => {
      msg.respond(msg.data);
    },
  });
  await server.flush();
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  ctx.defer(() => new Promise<void>((resolve) => wss.close(() => resolve())));
  await new Promise<void>((resolve) => wss.once('listening', () => resolve()));
  wss.on('connection', (socket) =>
    socket.on('message', (data: Buffer) => {
      JSON.parse(data.toString('utf8'));
      socket.send(data);
    }),
  );
  const ws = new WebSocket(`ws://127.0.0.1:${(wss.address() as AddressInfo).port}`);
  ctx.defer(() => ws.terminate());
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  let answered: (() => void) | undefined;
  ws.on('message', (data: Buffer) => {
    JSON.parse(data.toString('utf8'));
    answered?.();
  });
  const wsPayload = Buffer.from(payload);
  return {
    async nats() {
      await client.request('bench.cmd.rr', payload, { timeout: 5_000 });
    },
    ws: () =>
      new Promise<void>((resolve) => {
        answered = resolve;
        ws.send(wsPayload);
      }),
  };
}

export async function timed(fn: () => Promise<unknown>): Promise<number> {
  const start = nowMs();
  await fn();
  return nowMs() - start;
}
