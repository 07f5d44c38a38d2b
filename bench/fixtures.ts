// What several bench modules set up the same way: seeded sessions, a tracker, a real agent in
// front of a fake opencode that answers nothing (the figures time the way there, not a model).
import { randomUUID } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { type Agent, createAgent } from '@hal/agent';
import { type JetStreamClient, publishEvent } from '@hal/bus';
import { parseConfig } from '@hal/config';
import type { Logger, Registry } from '@hal/observability';
import type { EventRecord } from '@hal/protocol';
import { type FakeOpencode, startFakeOpencode } from '@hal/testkit';
import { createTracker, type Tracker } from '@hal/tracker';
import type { NatsConnection } from '@nats-io/transport-node';
import type { BenchContext } from './harness.ts';
import { runWindowed } from './stats.ts';

function sessionCreated(i: number, start: number): EventRecord {
  return {
    version: 1,
    id: randomUUID(),
    seq: i,
    node: `node-${i % 10}`,
    project: `project-${i % 25}`,
    session: `ses_${String(i).padStart(6, '0')}`,
    type: 'session.created',
    time: new Date(start + i).toISOString(),
    data: { title: `bench session ${i}`, directory: `/srv/project-${i % 25}` },
  };
}

/** `count` sessions over 10 nodes and 25 projects in HAL_EVENTS, created 1 ms apart from `start`. */
export async function seedSessions(js: JetStreamClient, count: number, start: number): Promise<void> {
  const seeded = await runWindowed((i) => publishEvent(js, sessionCreated(i, start)), {
    count,
    budgetMs: 60_000,
    window: 1_000,
  });
  if (seeded.sent < count) throw new Error(`only ${seeded.sent} of ${count} sessions published`);
}

/** A tracker on a fresh data dir, stopped when the module ends; `start()` is the caller's. */
export async function benchTracker(
  ctx: BenchContext,
  deps: { nc: NatsConnection; log: Logger; registry: Registry },
): Promise<Tracker> {
  const tracker = createTracker({
    config: {
      data_dir: join(await ctx.tmpDir(), 'data'),
      heartbeat_interval_sec: 30,
      heartbeat_timeout_count: 3,
      security: { audit: { retention_days: 90 } },
    },
    ...deps,
  });
  ctx.defer(() => tracker.stop());
  return tracker;
}

/** A started hal-agent for `node`/`project`, connected to the gateway at `gatewayPort`, in front of a fake opencode. */
export async function benchAgent(
  ctx: BenchContext,
  opts: { gatewayPort: number; token: string; node: string; project: string; log: Logger },
): Promise<{ agent: Agent; opencode: FakeOpencode; projectDir: string }> {
  const dir = await ctx.tmpDir();
  const projectDir = join(dir, 'project');
  await mkdir(projectDir);
  const opencode = await startFakeOpencode({ defaultDirectory: projectDir, autoReply: false });
  ctx.defer(() => opencode.stop());
  const agent = createAgent({
    config: parseConfig('agent', {
      node_id: opts.node,
      supervisor_url: `ws://127.0.0.1:${opts.gatewayPort}`,
      auth_token: opts.token,
      opencode_port: opencode.port,
      projects: [{ name: opts.project, directory: projectDir }],
      data_dir: join(dir, 'agent'),
      log_level: 'silent',
    }),
    log: opts.log,
  });
  await agent.start();
  ctx.defer(() => agent.stop());
  return { agent, opencode, projectDir };
}
