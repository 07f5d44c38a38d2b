// The agent's memory on a host that lost its gateway for a while: a real `hal-agent` process, built
// as it ships (compiled JS, no TypeScript loader: testkit compiledEntry), watching 50 sessions of a real `opencode serve` while 100,000
// events wait in its spool, against a bare `node` process in the same run (#16: goal ≤ 3×). The
// backlog is what an hour-long outage leaves (the spool is written, never held in memory); the
// supervisor URL points at a port nobody listens on, so the agent keeps retrying and nothing drains.
import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { openSpool } from '@hal/agent';
import {
  compiledEntry,
  freePort,
  startCuttingProxy,
  startOpencode,
  startScriptedLlm,
  waitFor,
} from '@hal/testkit';
import Database from 'better-sqlite3';
import type { BenchContext } from './harness.ts';

const AGENT_MAIN = fileURLToPath(new URL('../services/agent/src/main.ts', import.meta.url));
// Beside where `npm run build` puts the agent (its `../drizzle` and the checkout's .tools resolve
// the same), under a name the bin never runs; removed when the module ends.
const NODE = 'bench-agent-memory';
const PROJECT = 'bench';
const SESSIONS = 50;
const BACKLOG = 100_000;
const BATCH = 1_000;

/** VmRSS of a process, from /proc (Linux; the bench runs on the CI's Debian). */
function rssKiB(pid: number): number {
  const line = readFileSync(`/proc/${pid}/status`, 'utf8')
    .split('\n')
    .find((l) => l.startsWith('VmRSS:'));
  if (line === undefined) throw new Error(`no VmRSS for pid ${pid}`);
  return Number.parseInt(line.replace(/\D+/g, ''), 10);
}

/** RSS once it settles: three readings 500 ms apart within 1 % of each other (at most 20 s). */
async function settledRss(pid: number): Promise<number> {
  const readings: number[] = [];
  for (let i = 0; i < 40; i++) {
    readings.push(rssKiB(pid));
    const last = readings.slice(-3);
    if (last.length === 3 && Math.max(...last) - Math.min(...last) <= 0.01 * Math.max(...last)) {
      return last.reduce((a, b) => a + b, 0) / 3;
    }
    await new Promise((r) => setTimeout(r, 500));
  }
  return readings.slice(-3).reduce((a, b) => a + b, 0) / 3;
}

function track(ctx: BenchContext, child: ChildProcess): ChildProcess {
  ctx.defer(
    () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      }),
  );
  return child;
}

/** 100,000 events already in the spool, as an outage leaves them (one transaction per 1,000). */
function fillSpool(file: string, count: number): void {
  const spool = openSpool({
    file,
    maxBytes: 1_000_000_000,
    overflowDraft: () => {
      throw new Error('the bench spool never overflows');
    },
  });
  const text = 'x'.repeat(200);
  for (let n = 0; n < count; n += BATCH) {
    spool.append(
      Array.from({ length: BATCH }, (_, i) => ({
        version: 1 as const,
        id: crypto.randomUUID(),
        node: NODE,
        project: PROJECT,
        session: `ses_backlog_${(n + i) % SESSIONS}`,
        type: 'message.part',
        time: new Date().toISOString(),
        data: { text, n: n + i },
      })),
    );
  }
  spool.close();
}

/** Rows in the spool, read beside the running agent (WAL: readers never block its writer). */
function spoolDepth(file: string): number {
  const db = new Database(file, { readonly: true });
  try {
    return (db.prepare('SELECT count(*) AS n FROM spool_events').get() as { n: number }).n;
  } finally {
    db.close();
  }
}

export default async function agentMemory(ctx: BenchContext): Promise<void> {
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

  const dataDir = join(dir, 'agent');
  const spoolFile = join(dataDir, 'spool.db');
  const backlog = ctx.size(BACKLOG, 5_000);
  fillSpool(spoolFile, backlog);

  // The agent reaches opencode through a pass-through, which tells when its event stream is open.
  const proxy = await startCuttingProxy(opencode.url);
  ctx.defer(() => proxy.stop());
  const configFile = join(dir, 'agent.json');
  writeFileSync(
    configFile,
    JSON.stringify({
      node_id: NODE,
      // Nobody listens there: the agent retries with its backoff and the backlog stays.
      supervisor_url: `ws://127.0.0.1:${await freePort()}`,
      auth_token: 'bench-agent-memory-token-0123456789',
      opencode_port: opencode.port,
      opencode: { url: proxy.url, manage: false },
      projects: [{ name: PROJECT, directory: projectDir }],
      data_dir: dataDir,
      log_level: 'warn',
    }),
  );
  const agent = track(
    ctx,
    spawn(process.execPath, [await compiledEntry(AGENT_MAIN), '--config', configFile], {
      stdio: ['ignore', 'ignore', 'inherit'],
    }),
  );

  // The sessions, made once the agent watches: each reaches it on opencode's event stream and
  // lands in its spool behind the backlog.
  await waitFor(() => proxy.requests.some((r) => /^GET \/(global\/)?event$/.test(r)), {
    timeoutMs: 60_000,
    message: "the agent subscribed to opencode's events",
  });
  const depthBefore = spoolDepth(spoolFile);
  await waitFor(
    async () => {
      for (let i = 0; i < SESSIONS; i++) {
        const res = await fetch(`${opencode.url}/session?directory=${encodeURIComponent(projectDir)}`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ title: `bench session ${i}` }),
        });
        if (!res.ok) throw new Error(`opencode POST /session: ${res.status}`);
        await res.body?.cancel();
      }
      return true;
    },
    { timeoutMs: 30_000, message: '50 opencode sessions created' },
  );
  await waitFor(() => spoolDepth(spoolFile) >= depthBefore + SESSIONS, {
    timeoutMs: 60_000,
    message: `the agent spooled the ${SESSIONS} new sessions`,
  });
  const agentRss = await settledRss(agent.pid!);

  const bare = track(
    ctx,
    spawn(process.execPath, ['-e', 'setInterval(() => {}, 1 << 30)'], { stdio: 'ignore' }),
  );
  const bareRss = await settledRss(bare.pid!);

  ctx.log(
    `agent with ${SESSIONS} sessions and ${spoolDepth(spoolFile)} spooled events: rss ${(agentRss / 1024).toFixed(1)} MiB; bare node ${(bareRss / 1024).toFixed(1)} MiB`,
  );
  ctx.record({
    name: `agent.memory.rss.${SESSIONS}_sessions_${backlog}_spooled`,
    value: agentRss / 1024,
    unit: 'MiB',
    baseline: { name: 'node.bare.rss', value: bareRss / 1024, unit: 'MiB' },
    goal: { op: '<=', value: 3 },
  });
}
