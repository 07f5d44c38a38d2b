// `node --expose-gc … bench/scale/child.ts <role> <json options>`: one part of a scale figure in
// a process of its own (children.ts spawns it). Requests arrive as JSON lines on stdin
// ({ id, cmd, args }); each gets one JSON line on stdout ({ id, ok, result | error }). Id 0 is
// the start. Every role answers `mem`: RSS and heap after three forced GCs.
import { createInterface } from 'node:readline';
import { writeHeapSnapshot } from 'node:v8';
import { connectBus, ensureStreams } from '@hal/bus';
import { createLogger } from '@hal/observability';
import { StreamName, streamSubjects } from '@hal/protocol';
import { jetstream } from '@nats-io/jetstream';
import { WebSocketServer } from 'ws';
import { createBenchGateway } from '../bench-gateway.ts';
import { jsonPayload, runWindowed } from '../stats.ts';
import { createSimAgents, type SimAgentsOptions } from './sim-agents.ts';

type Handlers = Record<string, (args: never) => unknown>;

const [role = '', rawOpts = '{}'] = process.argv.slice(2);
const opts = JSON.parse(rawOpts) as Record<string, unknown>;
const log = createLogger({ service: `bench-${role}`, level: 'silent' });

function reply(id: number, body: { ok: true; result: unknown } | { ok: false; error: string }): void {
  process.stdout.write(`${JSON.stringify({ id, ...body })}\n`);
}

/**
 * RSS, heap and external memory once they settle: GC, then a pause for V8 and malloc to hand
 * freed pages back, until two readings 200 ms apart are within 64 KiB (at most 5 s). Without
 * the settling, start-up garbage returned between two samples makes a delta negative.
 */
async function mem() {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (gc === undefined) throw new Error('run with --expose-gc');
  let previous = Number.NaN;
  for (let i = 0; i < 25; i++) {
    gc();
    await new Promise((r) => setTimeout(r, 200));
    const { rss } = process.memoryUsage();
    if (Math.abs(rss - previous) < 64 * 1024) break;
    previous = rss;
  }
  const m = process.memoryUsage();
  return { rss: m.rss, heapUsed: m.heapUsed, external: m.external };
}

/** The real gateway on its own NATS connection, as hal-gateway runs it (HTTP API aside). */
async function gatewayRole(): Promise<{ ready: unknown; handlers: Handlers }> {
  const nc = await connectBus({ url: String(opts.natsUrl), name: 'bench-scale-gateway', log });
  // The streams a deployment has (the supervisor makes them): without HAL_EVENTS each node.online
  // publish fails and retries with backoff, and those retries were counted as connection memory.
  await ensureStreams(nc);
  const gw = createBenchGateway({ nc, log, token: String(opts.token), gatewayId: String(opts.gatewayId) });
  await gw.start();
  return {
    ready: { url: `ws://127.0.0.1:${gw.address().port}` },
    handlers: { nodes: () => ({ nodes: gw.nodes().length }) },
  };
}

/** A bare `ws` server that keeps every socket and does nothing with it: the memory baseline. */
async function wsServerRole(): Promise<{ ready: unknown; handlers: Handlers }> {
  const server = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  await new Promise<void>((resolve) => server.once('listening', () => resolve()));
  const held = new Set<unknown>();
  server.on('connection', (socket) => {
    held.add(socket);
    socket.on('close', () => held.delete(socket));
  });
  const { port } = server.address() as { port: number };
  return { ready: { url: `ws://127.0.0.1:${port}` }, handlers: { nodes: () => ({ nodes: held.size }) } };
}

async function agentsRole(): Promise<{ ready: unknown; handlers: Handlers }> {
  const agents = createSimAgents(opts as unknown as SimAgentsOptions);
  return {
    ready: {},
    handlers: {
      open: () => agents.open(),
      burst: (args: { perAgent: number; batch: number; window: number }) => agents.burst(args),
      steady: (args: { rate: number }) => agents.steady(args),
      stopSteady: () => agents.stopSteady(),
      stats: () => agents.stats(),
      close: () => agents.close(),
    },
  };
}

/** Raw JetStream publishing, as jetstream.publish.async measures it: msg ids, 1,000 in flight. */
async function publisherRole(): Promise<{ ready: unknown; handlers: Handlers }> {
  const nc = await connectBus({ url: String(opts.natsUrl), name: 'bench-scale-publisher', log });
  const js = jetstream(nc);
  const payload = jsonPayload();
  const subject = String(opts.subject);
  return {
    ready: {},
    handlers: {
      publish: (args: { count: number; budgetMs: number }) =>
        runWindowed((i) => js.publish(subject, payload, { msgID: `${opts.runId}-${i}` }), {
          count: args.count,
          budgetMs: args.budgetMs,
          window: 1_000,
        }),
    },
  };
}

/**
 * The soak's raw control (bench/soak.ts): copies HAL_EVENTS' stream config and every durable
 * consumer's config from the system's server (`systemUrl`) to a plain one (`controlUrl`), taps
 * every message published on the events subjects there with a core subscription (the same
 * subjects, payloads and `Nats-Msg-Id`s, resends included, at the same moments), stores each
 * in the control with a raw JetStream publish, and drains the control's consumers with raw
 * consumers that ack each message.
 */
async function rawControlRole(): Promise<{ ready: unknown; handlers: Handlers }> {
  const system = await connectBus({ url: String(opts.systemUrl), name: 'soak-control-tap', log });
  const control = await connectBus({ url: String(opts.controlUrl), name: 'soak-control', log });
  const jsm = await jetstream(system).jetstreamManager();
  const cjs = jetstream(control);
  const cjsm = await cjs.jetstreamManager();
  await cjsm.streams.add((await jsm.streams.info(StreamName.EVENTS)).config);
  const durables = [];
  for await (const ci of jsm.consumers.list(StreamName.EVENTS)) {
    if (ci.config.durable_name !== undefined) durables.push(ci.config);
  }
  if (durables.length === 0) throw new Error('the system has no durable consumer on HAL_EVENTS to copy');
  let acked = 0;
  for (const config of durables) {
    await cjsm.consumers.add(StreamName.EVENTS, config);
    const messages = await (await cjs.consumers.get(StreamName.EVENTS, config.durable_name)).consume();
    void (async () => {
      for await (const m of messages) {
        m.ack();
        acked += 1;
      }
    })();
  }
  let relayed = 0;
  let failed = 0;
  let inFlight = 0;
  for (const pattern of streamSubjects.HAL_EVENTS) {
    system.subscribe(pattern, {
      callback: (err, msg) => {
        if (err !== null) return;
        inFlight += 1;
        cjs
          .publish(msg.subject, msg.data, msg.headers === undefined ? {} : { headers: msg.headers })
          .then(
            () => {
              relayed += 1;
            },
            () => {
              failed += 1;
            },
          )
          .finally(() => {
            inFlight -= 1;
          });
      },
    });
  }
  return {
    ready: { consumers: durables.length },
    handlers: {
      counts: async () => ({
        stored: (await cjsm.streams.info(StreamName.EVENTS)).state.messages,
        relayed,
        failed,
        inFlight,
        acked,
      }),
    },
  };
}

const roles: Record<string, () => Promise<{ ready: unknown; handlers: Handlers }>> = {
  gateway: gatewayRole,
  'ws-server': wsServerRole,
  agents: agentsRole,
  publisher: publisherRole,
  'raw-control': rawControlRole,
};

const start = roles[role];
if (start === undefined) {
  reply(0, { ok: false, error: `unknown role ${role}` });
  process.exit(2);
}
try {
  const { ready, handlers } = await start();
  // `rss` is cheap enough to ask under load; `mem` (GC, settling) is for quiet moments.
  const all: Handlers = {
    ...handlers,
    mem,
    rss: () => ({ rss: process.memoryUsage().rss }),
    // A heap snapshot after the settling GCs, for finding where a figure's memory goes (bench/README.md).
    snapshot: async (args: { path: string }) => {
      await mem();
      return { path: writeHeapSnapshot(args.path) };
    },
  };
  createInterface({ input: process.stdin }).on('line', (line) => {
    const req = JSON.parse(line) as { id: number; cmd: string; args?: never };
    const handler = all[req.cmd];
    if (handler === undefined) {
      reply(req.id, { ok: false, error: `unknown request ${req.cmd}` });
      return;
    }
    Promise.resolve()
      .then(() => handler(req.args as never))
      .then(
        (result) => reply(req.id, { ok: true, result }),
        (err: unknown) => reply(req.id, { ok: false, error: String(err) }),
      );
  });
  // The parent going away (its stdin closes) ends the child: no orphan after a crashed bench.
  process.stdin.once('end', () => process.exit(0));
  reply(0, { ok: true, result: ready });
} catch (err) {
  reply(0, { ok: false, error: err instanceof Error ? (err.stack ?? err.message) : String(err) });
  process.exit(1);
}
