// Memory per idle connection: the real gateway holding N agents (hello → welcome) against a bare
// `ws` server holding N sockets, each server in its own process so the delta is its own, both
// measured the same way in the same run: after a warm-up connection (lazy code paths, first
// buffers), three forced GCs, N connections, three forced GCs.
import type { BenchContext } from '../harness.ts';
import { type BenchChild, type MemorySample, startChild } from './children.ts';

export const SCALE_TOKEN = 'bench-scale-token-0123456789';

/** Bytes per connection, from two samples N connections apart. */
export interface PerConnection {
  rss: number;
  heapUsed: number;
  external: number;
}

export function perConnection(before: MemorySample, after: MemorySample, n: number): PerConnection {
  return {
    rss: (after.rss - before.rss) / n,
    heapUsed: (after.heapUsed - before.heapUsed) / n,
    external: (after.external - before.external) / n,
  };
}

/**
 * Two figures against the raw ws server's per socket: JS memory (heap + external), which carries
 * the goal because it is what a connection's objects cost and it is steady from run to run; and
 * RSS, for the record only: on a busy 2-core machine it moves by tens of KiB per connection
 * between runs (allocator arenas, pages not yet returned), which no goal can be set on.
 */
export function recordMemory(
  ctx: BenchContext,
  name: string,
  per: PerConnection,
  raw: PerConnection,
  rawName: string,
): void {
  ctx.record({
    name: `${name}.js_heap`,
    value: (per.heapUsed + per.external) / 1024,
    unit: 'KiB',
    baseline: { name: `${rawName}.js_heap`, value: (raw.heapUsed + raw.external) / 1024, unit: 'KiB' },
    goal: { op: '<=', value: 2 },
  });
  ctx.record({
    name: `${name}.rss`,
    value: per.rss / 1024,
    unit: 'KiB',
    baseline: { name: `${rawName}.rss`, value: raw.rss / 1024, unit: 'KiB' },
  });
}

export function kib(bytes: number): string {
  return `${(bytes / 1024).toFixed(1)} KiB`;
}

/**
 * Opens 20 connections and closes them, then samples memory: the server's one-time costs (code
 * compiled on the first hello, pools) are then in the "before" sample, not per connection.
 * `events` per connection (10 sessions each) also warm the event path: code V8 compiles and
 * optimises once under load is the process's, however many agents it holds.
 */
export async function warmUp(
  ctx: BenchContext,
  server: BenchChild<{ url: string }>,
  hello: boolean,
  prefix: string,
  events = 0,
): Promise<MemorySample> {
  const warm = await startChild(ctx, 'agents', {
    url: server.ready.url,
    token: SCALE_TOKEN,
    count: 20,
    prefix,
    sessions: events > 0 ? 10 : 1,
    hello,
  });
  await warm.call('open');
  if (events > 0) await warm.call('burst', { perAgent: events, batch: 1, window: 20 });
  await warm.call('close');
  await warm.stop();
  await waitForNodes(server, 0);
  return server.call<MemorySample>('mem');
}

/** Waits until the server holds exactly `n` connections (closed ones unregistered). */
export async function waitForNodes(server: BenchChild<unknown>, n: number): Promise<void> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const { nodes } = await server.call<{ nodes: number }>('nodes');
    if (nodes === n) return;
    if (Date.now() > deadline) throw new Error(`${server.role} holds ${nodes} connections, expected ${n}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** One side: a fresh server process, `n` connections from an agents process. */
async function measureSide(
  ctx: BenchContext,
  side: 'gateway' | 'ws-server',
  natsUrl: string,
  n: number,
): Promise<PerConnection> {
  const hello = side === 'gateway';
  const server = await startChild<{ url: string }>(ctx, side, {
    natsUrl,
    token: SCALE_TOKEN,
    gatewayId: 'bench-scale-idle',
  });
  const before = await warmUp(ctx, server, hello, 'warm-');
  const agents = await startChild(ctx, 'agents', {
    url: server.ready.url,
    token: SCALE_TOKEN,
    count: n,
    prefix: 'idle-',
    sessions: 1,
    hello,
  });
  await agents.call('open');
  await waitForNodes(server, n);
  const after = await server.call<MemorySample>('mem');
  await agents.stop();
  await server.stop();
  return perConnection(before, after, n);
}

/** Records the gateway's memory per idle agent against a raw ws server's per idle socket. */
export async function idleMemory(ctx: BenchContext, natsUrl: string): Promise<PerConnection> {
  const n = ctx.size(1_000, 100);
  const raw = await measureSide(ctx, 'ws-server', natsUrl, n);
  const gw = await measureSide(ctx, 'gateway', natsUrl, n);
  ctx.log(
    `idle memory per connection (${n}): gateway rss ${kib(gw.rss)} heap ${kib(gw.heapUsed)} external ${kib(gw.external)}; ` +
      `raw ws rss ${kib(raw.rss)} heap ${kib(raw.heapUsed)} external ${kib(raw.external)}`,
  );
  recordMemory(ctx, `scale.memory.per_idle_agent.${n}`, gw, raw, `ws.memory.per_idle_socket.${n}`);
  return raw;
}
