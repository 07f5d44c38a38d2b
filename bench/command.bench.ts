// The command round trip as the API makes it: `request` on hal.cmd.<node> (what the HTTP API's
// session commands call) → the real gateway → the real hal-agent over its WebSocket → the
// agent's opencode client against the testkit's fake opencode → back, one at a time. The
// baseline is a raw NATS request/reply plus a raw WebSocket round trip of this run: the two
// hops no command can avoid. gateway.bench.ts keeps the same trip with a plain ws peer as
// the agent, which shows what the real agent adds.
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { createAgent } from '@hal/agent';
import { connectBus, ensureStreams, request } from '@hal/bus';
import { parseConfig } from '@hal/config';
import { createLogger } from '@hal/observability';
import { type Command, commandRequestSchema, subjects } from '@hal/protocol';
import { startFakeOpencode, waitFor } from '@hal/testkit';
import { z } from 'zod';
import { createBenchGateway } from './bench-gateway.ts';
import type { BenchContext } from './harness.ts';
import { percentile, sampleLatencies } from './stats.ts';

const TOKEN = 'bench-token-0123456789';
const NODE = 'bench-agent';
const PROJECT = 'bench';

const startedSchema = z.object({ session: z.string(), project: z.literal(PROJECT) });
const injectedSchema = z.object({ session: z.string(), injected: z.literal(true) });
const statusSchema = z.object({ session: z.string() });

export default async function command(ctx: BenchContext): Promise<void> {
  const nats = await ctx.nats();
  const log = createLogger({ service: 'bench-command', level: 'silent' });
  const nc = await connectBus({ url: nats.url, name: 'bench-command', log });
  ctx.defer(() => nc.close());
  await ensureStreams(nc);

  const dir = await ctx.tmpDir();
  const projectDir = join(dir, 'project');
  await mkdir(projectDir);
  // No automatic assistant reply: an inject answers once opencode took the prompt, and a reply
  // streaming back meanwhile would time the fake LLM, not the command path. The prompt's own
  // events (user message, busy) still flow agent → gateway → JetStream beside the commands.
  const opencode = await startFakeOpencode({ defaultDirectory: projectDir, autoReply: false });
  ctx.defer(() => opencode.stop());

  const gw = createBenchGateway({ nc, log, token: TOKEN, gatewayId: 'bench-gw' });
  await gw.start();
  ctx.defer(() => gw.stop());

  const config = parseConfig('agent', {
    node_id: NODE,
    supervisor_url: `ws://127.0.0.1:${gw.address().port}`,
    auth_token: TOKEN,
    opencode_port: opencode.port,
    projects: [{ name: PROJECT, directory: projectDir }],
    data_dir: join(dir, 'agent'),
    log_level: 'silent',
  });
  const agent = createAgent({ config, log });
  await agent.start();
  ctx.defer(() => agent.stop());

  const send = <T extends z.ZodType>(cmd: Command, schema: T): Promise<z.infer<T>> =>
    request(
      nc,
      subjects.command(NODE),
      commandRequestSchema.parse({ command: cmd, actor: { kind: 'user', id: 'bench' }, timeout_ms: 5_000 }),
      schema,
      { timeoutMs: 6_000 },
    );
  // The node is served on hal.cmd once its hello is through; until then: NO_RESPONDERS.
  const { session } = await waitFor(() => send({ type: 'start', project: PROJECT }, startedSchema), {
    timeoutMs: 15_000,
    message: `a start command answered by ${NODE}`,
  });

  const count = ctx.size(2_000, 100);
  const warmup = ctx.size(200, 20);
  const trips: Array<{ name: string; cmd: Command; schema: z.ZodType }> = [
    // Through opencode: the agent locates the session (GET /session/:id), then POSTs prompt_async.
    { name: 'inject', cmd: { type: 'inject', session, prompt: 'bench' }, schema: injectedSchema },
    // An existing session's status: the agent answers from its registry, opencode is not asked.
    { name: 'status_existing_session', cmd: { type: 'status', session }, schema: statusSchema },
  ];
  for (const trip of trips) {
    const samples = await sampleLatencies(
      async () => {
        await send(trip.cmd, trip.schema);
      },
      { count, warmup, budgetMs: 20_000 },
    );
    if (samples.length < count) ctx.log(`command ${trip.name}: only ${samples.length} of ${count} in budget`);
    for (const q of [50, 99] as const) {
      const natsRaw = ctx.raw[`nats.reqreply.p${q}`];
      const wsRaw = ctx.raw[`ws.roundtrip.p${q}`];
      if (natsRaw === undefined || wsRaw === undefined)
        throw new Error('raw figures nats.reqreply / ws.roundtrip missing');
      ctx.record({
        name: `command.roundtrip.${trip.name}.real_agent_fake_opencode.p${q}`,
        value: percentile(samples, q),
        unit: 'ms',
        baseline: {
          name: `nats.reqreply.p${q}+ws.roundtrip.p${q}`,
          value: natsRaw.value + wsRaw.value,
          unit: 'ms',
        },
        goal: { op: '<=', value: 3 },
      });
    }
  }
  const prompts = opencode.requests.filter((r) => r.path.endsWith('/prompt_async')).length;
  ctx.log(`command: ${prompts} prompts reached the fake opencode`);
}
