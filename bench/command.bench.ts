// The command round trip as the API makes it: `request` on hal.cmd.<node> (what the HTTP API's
// session commands call) → the real gateway → the real hal-agent over its WebSocket → a real
// opencode (testkit `startOpencode`, its model the scripted LLM) → back, one at a time.
//
// The baseline is FAIR and measured beside each sample, in the same run and under the same load:
// the hops no command can avoid, each done raw — one NATS request/reply, one WebSocket round trip
// (JSON parsed on both ends), and for `inject` one raw HTTP `POST /session/:id/prompt_async` to
// the same opencode, the call the agent makes. A `status` of a session the agent knows is
// answered from its registry, so its baseline has no opencode call. Samples alternate between the
// command and its baseline, so a burst of load on the shared machine hits both alike; each
// percentile of the command is set against the same percentile of the per-sample baseline sums.
// gateway.bench.ts keeps the same trip with a plain ws peer as the agent.
import { join } from 'node:path';
import { createAgent } from '@hal/agent';
import { connectBus, ensureStreams, request } from '@hal/bus';
import { parseConfig } from '@hal/config';
import { createLogger } from '@hal/observability';
import { type Command, commandRequestSchema, subjects } from '@hal/protocol';
import { startOpencode, startScriptedLlm, waitFor } from '@hal/testkit';
import { z } from 'zod';
import { createBenchGateway } from './bench-gateway.ts';
import type { BenchContext } from './harness.ts';
import { rawHops, timed } from './raw/hops.ts';
import { nowMs, percentile } from './stats.ts';

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
  const llm = await startScriptedLlm();
  ctx.defer(() => llm.stop());
  const opencode = await startOpencode({
    llm,
    projects: [{ name: PROJECT, directory: join(dir, 'project') }],
    startTimeoutMs: 60_000,
  });
  ctx.defer(() => opencode.stop());
  const projectDir = opencode.projects[0]!.directory;

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
    timeoutMs: 30_000,
    message: `a start command answered by ${NODE}`,
  });

  const hops = await rawHops(ctx, nats.url);
  // The agent's own call, made raw: same URL, query and body as its opencode client sends.
  const promptUrl = new URL(`${opencode.url}/session/${encodeURIComponent(session)}/prompt_async`);
  promptUrl.searchParams.set('directory', projectDir);
  const rawPrompt = async (): Promise<void> => {
    const res = await fetch(promptUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ parts: [{ type: 'text', text: 'bench' }] }),
    });
    await res.text();
    if (!res.ok) throw new Error(`raw prompt_async answered ${res.status}`);
  };

  // Each prompt is a turn of the real opencode (and of the scripted model): fewer samples than a
  // pure-NATS figure, enough for a p99 (the 99th of 300 is the third largest).
  const count = ctx.size(300, 20);
  const warmup = ctx.size(20, 3);
  const trips: Array<{ name: string; cmd: Command; schema: z.ZodType; opencodeCall?: () => Promise<void> }> =
    [
      {
        name: 'inject',
        cmd: { type: 'inject', session, prompt: 'bench' },
        schema: injectedSchema,
        opencodeCall: rawPrompt,
      },
      // A session the agent knows: answered from its registry, opencode is not asked.
      { name: 'status_existing_session', cmd: { type: 'status', session }, schema: statusSchema },
    ];
  for (const trip of trips) {
    const samples: number[] = [];
    const baseline: number[] = [];
    const budgetEnd = nowMs() + 60_000;
    const base = async (): Promise<number> =>
      (await timed(hops.nats)) +
      (await timed(hops.ws)) +
      (trip.opencodeCall ? await timed(trip.opencodeCall) : 0);
    for (let i = 0; i < warmup + count && nowMs() < budgetEnd; i++) {
      const cmdFirst = i % 2 === 0;
      const b1 = cmdFirst ? undefined : await base();
      const c = await timed(() => send(trip.cmd, trip.schema));
      const b = b1 ?? (await base());
      if (i >= warmup) {
        samples.push(c);
        baseline.push(b);
      }
    }
    if (samples.length < count) ctx.log(`command ${trip.name}: only ${samples.length} of ${count} in budget`);
    const parts = trip.opencodeCall
      ? 'nats.reqreply+ws.roundtrip+opencode.prompt_async'
      : 'nats.reqreply+ws.roundtrip';
    for (const q of [50, 99] as const) {
      ctx.record({
        name: `command.roundtrip.${trip.name}.real_agent_real_opencode.p${q}`,
        value: percentile(samples, q),
        unit: 'ms',
        baseline: {
          name: `${parts}.p${q} (same run, interleaved)`,
          value: percentile(baseline, q),
          unit: 'ms',
        },
        goal: { op: '<=', value: 3 },
      });
    }
  }
  ctx.log(`command: ${llm.chatRequests().length} model turns in opencode`);
}
