import type { AddressInfo } from 'node:net';
import { WebSocket, WebSocketServer } from 'ws';
import type { BenchContext } from '../harness.ts';
import { jsonPayload, percentile, sampleLatencies } from '../stats.ts';

/** One client ↔ echo server on loopback; each side parses the JSON, as the gateway does. */
export async function wsRoundTrip(ctx: BenchContext): Promise<void> {
  const payload = Buffer.from(jsonPayload());
  const server = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  ctx.defer(() => new Promise<void>((resolve) => server.close(() => resolve())));
  await new Promise<void>((resolve) => server.once('listening', () => resolve()));
  server.on('connection', (socket) => {
    socket.on('message', (data: Buffer) => {
      JSON.parse(data.toString('utf8'));
      socket.send(data);
    });
  });
  const { port } = server.address() as AddressInfo;
  const client = new WebSocket(`ws://127.0.0.1:${port}`);
  ctx.defer(() => client.terminate());
  await new Promise<void>((resolve, reject) => {
    client.once('open', () => resolve());
    client.once('error', reject);
  });
  let waiting: (() => void) | undefined;
  client.on('message', (data: Buffer) => {
    JSON.parse(data.toString('utf8'));
    waiting?.();
  });
  const samples = await sampleLatencies(
    () =>
      new Promise<void>((resolve) => {
        waiting = resolve;
        client.send(payload);
      }),
    { count: ctx.size(20_000, 300), budgetMs: 3_000 },
  );
  ctx.recordRaw({ name: 'ws.roundtrip.p50', value: percentile(samples, 50), unit: 'ms' });
  ctx.recordRaw({ name: 'ws.roundtrip.p99', value: percentile(samples, 99), unit: 'ms' });
}
