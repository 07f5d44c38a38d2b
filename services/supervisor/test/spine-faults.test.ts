import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { openSpool } from '@hal/agent';
import { jetstreamClient } from '@hal/bus';
import { type EventRecord, StreamName } from '@hal/protocol';
import {
  type OpencodeServer,
  type ScriptedLlm,
  startCuttingProxy,
  startOpencode,
  startScriptedLlm,
  tempDir,
  waitFor,
} from '@hal/testkit';
import {
  bulkDrafts,
  exactlyOnceInOrder,
  type Spine,
  spawnAgentProcess,
  startAgent,
  startSpine,
  startTcpProxy,
  type TestAgent,
} from './spine-harness.ts';

// Faults on the real spine: the agent ↔ gateway link cut mid-stream, the agent process killed
// mid-stream, the gateway restarted mid-stream. One real opencode for the file.
const BULK = 10_000;
/**
 * How long the bulk may take to be stored after a restart. Two sessions, and the gateway keeps one
 * publish in flight per session (per-session order), so the rate is two events per JetStream
 * round trip: ~3 s alone, but 190–280 events/s (35–50 s) measured with two busy loops and a second
 * copy of this file beside it — CI's opencode phase failed a 30 s deadline. Returns once stored.
 */
const BULK_STORED_MS = 90_000;
let llm: ScriptedLlm;
let opencode: OpencodeServer;
let spine: Spine;
const agents: TestAgent[] = [];

before(async () => {
  llm = await startScriptedLlm({ titleText: 'Fault title', chunkDelayMs: 20 });
  opencode = await startOpencode({
    llm,
    projects: [{ name: 'alpha' }, { name: 'beta' }, { name: 'gamma' }],
  });
  spine = await startSpine({ timeoutCount: 4 });
});

after(async () => {
  for (const a of agents) await a.dispose();
  await spine?.close();
  await opencode?.stop();
  await llm?.stop();
});

const project = (name: string) => {
  const p = opencode.projects.find((x) => x.name === name);
  if (p === undefined) throw new Error(`no project ${name}`);
  return p;
};

const ofNode = (node: string, type?: string): EventRecord[] =>
  spine.events.of((e) => e.node === node && (type === undefined || e.type === type));

/** Events of `node`'s agent (seq > 0) as stored: every seq 1..last exactly once, or a description. */
function contiguous(node: string, last: number): string | undefined {
  const seqs = ofNode(node)
    .filter((e) => e.seq > 0)
    .map((e) => e.seq)
    .sort((a, b) => a - b);
  const doubled = seqs.filter((s, i) => seqs[i - 1] === s).length;
  const unique = new Set(seqs).size;
  if (doubled > 0) return `${doubled} seqs stored twice`;
  if (unique !== last || seqs[0] !== 1 || seqs.at(-1) !== last)
    return `have ${unique} distinct seqs (${seqs[0]}..${seqs.at(-1)}), want 1..${last}`;
  return undefined;
}

/** How many messages HAL_EVENTS holds on `subject` right now (straight from the stream). */
async function storedOn(subject: string): Promise<number> {
  const jsm = await jetstreamClient(spine.nc).jetstreamManager();
  const info = await jsm.streams.info(StreamName.EVENTS, { subjects_filter: subject });
  return info.state.subjects?.[subject] ?? 0;
}

test('spine faults - network cut mid-stream: the agent reconnects, re-sends its snapshot, nothing lost or doubled', async () => {
  const node = 'node-cut';
  const proxy = await startTcpProxy(spine.wsPort);
  try {
    const a = await startAgent({
      node,
      supervisorUrl: proxy.url,
      opencodeUrl: opencode.url,
      projects: [project('alpha')],
    });
    agents.push(a);
    await spine.events.wait((e) => e.node === node && e.type === 'node.snapshot');
    // A turn that streams for a while (chunk delay) plus a burst in the spool, both in flight at the cut.
    llm.script({ text: Array.from({ length: 60 }, (_, i) => `word${i}`).join(' ') });
    const r = await spine.command(node, { type: 'start', project: 'alpha', prompt: 'stream for a while' });
    assert.equal(r.ok, true, JSON.stringify(r));
    const session = (r as { data: { session: string } }).data.session;
    await waitFor(() => llm.chatRequests('stream for a while').length > 0, {
      timeoutMs: 30_000,
      message: 'opencode calls the model',
    });
    const burst = bulkDrafts(node, 'alpha', ['ses_burst'], 2_000);
    a.agent.spool.append(burst);
    a.agent.connection()?.notify();
    const mark = spine.events.all.length;
    proxy.cut();

    await waitFor(() => ofNode(node, 'node.snapshot').length >= 2, {
      timeoutMs: 20_000,
      message: 'a second node.snapshot after the reconnect',
    });
    const offline = await waitFor(
      () => spine.events.since(mark, (e) => e.node === node && e.type === 'node.offline')[0],
    );
    assert.equal(offline.data.reason, 'socket_closed');
    await waitFor(
      () =>
        spine.events.of((e) => e.session === session && e.type === 'session.idle').length > 0 &&
        spine.events.of((e) => e.session === session && e.type === 'message.completed').length > 0,
      { timeoutMs: 20_000, message: 'the turn completes in JetStream after the cut' },
    );
    const last = a.agent.spool.lastSeq();
    await waitFor(() => contiguous(node, a.agent.spool.lastSeq()) === undefined, {
      timeoutMs: 15_000,
      message: `every agent seq once: ${contiguous(node, last)}`,
    });
    assert.equal(exactlyOnceInOrder(ofNode(node), burst), undefined);
    await waitFor(() => a.agent.spool.depth() === 0, { timeoutMs: 20_000, message: 'spool drained by acks' });
    const part = spine.events.of(
      (e) => e.session === session && e.type === 'message.part' && e.data.role === 'assistant',
    );
    assert.match(String(part.at(-1)?.data.text), /^word0 word1 .* word59$/);
  } finally {
    await proxy.stop();
  }
});

test('spine faults - opencode SSE and the gateway link cut together mid-turn: both recovered, the turn lands once', async () => {
  const node = 'node-sse';
  const proxy = await startTcpProxy(spine.wsPort);
  const ocCut = await startCuttingProxy(opencode.url);
  try {
    const a = await startAgent({
      node,
      supervisorUrl: proxy.url,
      opencodeUrl: ocCut.url,
      projects: [project('beta')],
    });
    agents.push(a);
    await spine.events.wait((e) => e.node === node && e.type === 'node.snapshot');
    // ~150 chunks at 20 ms: the turn outlasts the outage, so its completion comes after the restore.
    llm.script({ text: Array.from({ length: 150 }, (_, i) => `w${i}`).join(' ') });
    const r = await spine.command(node, { type: 'start', project: 'beta', prompt: 'long answer please' });
    assert.equal(r.ok, true, JSON.stringify(r));
    const session = (r as { data: { session: string } }).data.session;
    await waitFor(() => llm.chatRequests('long answer please').length > 0, {
      timeoutMs: 30_000,
      message: 'opencode calls the model',
    });
    ocCut.cut();
    proxy.cut();
    await spine.events.wait(
      (e) => e.node === node && e.type === 'agent.opencode_down',
      20_000,
      'the agent reports opencode down over the new link',
    );
    ocCut.restore();
    await spine.events.wait((e) => e.node === node && e.type === 'agent.opencode_up', 20_000);
    assert.ok(ofNode(node, 'node.snapshot').length >= 2, 'snapshot re-sent after the reconnect');
    await waitFor(
      () =>
        spine.events.of((e) => e.node === node && e.session === session && e.type === 'session.idle').length >
          0 &&
        spine.events.of((e) => e.node === node && e.session === session && e.type === 'message.completed')
          .length > 0,
      { timeoutMs: 20_000, message: 'the turn completes in JetStream after both cuts' },
    );
    assert.equal(
      spine.events.of((e) => e.node === node && e.session === session && e.type === 'message.completed')
        .length,
      1,
    );
    await waitFor(() => contiguous(node, a.agent.spool.lastSeq()) === undefined, {
      timeoutMs: 15_000,
      message: 'every agent seq once',
    });
    await a.stop();
  } finally {
    await ocCut.stop();
    await proxy.stop();
  }
});

test('spine faults - hal-agent SIGKILLed while streaming 10,000 spooled events, restarted on the same data dir: all stored once, in order', async (t) => {
  const node = 'node-crash';
  const dataDir = tempDir('hal-spine-crash-');
  // The events are in the spool before the agent starts, exactly as after a long outage.
  const drafts = bulkDrafts(node, 'bulk', ['ses_x', 'ses_y', 'ses_z'], BULK);
  const spool = openSpool({
    file: join(dataDir, 'spool.db'),
    maxBytes: 256 * 1024 * 1024,
    overflowDraft: () => {
      throw new Error('the test spool never overflows');
    },
  });
  for (let i = 0; i < BULK; i += 1_000) spool.append(drafts.slice(i, i + 1_000));
  spool.close();

  const opts = {
    node,
    supervisorUrl: spine.wsUrl,
    opencodeUrl: opencode.url,
    projects: [project('beta')],
    dataDir,
  };
  const subject = `hal.evt.${node}.bulk.message.part`;
  const first = await spawnAgentProcess(opts);
  t.after(() => {
    first.child.kill('SIGKILL');
  });
  await waitFor(async () => (await storedOn(subject)) > 0, {
    timeoutMs: 20_000,
    intervalMs: 5,
    message: 'the first agent streams',
  });
  first.child.kill('SIGKILL');
  await first.exited;
  const atCrash = await storedOn(subject);
  assert.ok(atCrash < BULK, `killed mid-stream (${atCrash} of ${BULK} stored)`);
  t.diagnostic(`SIGKILL with ${atCrash} of ${BULK} stored`);

  const second = await spawnAgentProcess(opts);
  t.after(async () => {
    second.child.kill('SIGTERM');
    await second.exited;
  });
  await waitFor(async () => (await storedOn(subject)) >= BULK, {
    timeoutMs: BULK_STORED_MS,
    message: 'all events stored after the restart',
  });
  await waitFor(() => spine.events.of((e) => e.node === node && e.project === 'bulk').length >= BULK, {
    timeoutMs: 20_000,
  });
  assert.equal(await storedOn(subject), BULK, 'no event stored twice');
  assert.equal(exactlyOnceInOrder(ofNode(node), drafts), undefined);
  assert.ok(ofNode(node, 'node.online').length >= 2, 'both agent runs came online');
  const openAgain = () =>
    openSpool({
      file: join(dataDir, 'spool.db'),
      maxBytes: 256 * 1024 * 1024,
      overflowDraft: () => {
        throw new Error('unreachable');
      },
    });
  // Stored is not yet acked: the gateway's last acks are on their way while the agent runs. Read
  // beside it (SQLite WAL) until they have emptied the spool, then stop it.
  await waitFor(
    () => {
      const live = openAgain();
      try {
        return live.depth() === 0;
      } finally {
        live.close();
      }
    },
    { timeoutMs: 20_000, message: 'every event was acked and left the spool' },
  );
  second.child.kill('SIGTERM');
  await second.exited;
  const reopened = openAgain();
  try {
    assert.equal(reopened.depth(), 0, 'the spool stays empty across the stop');
    assert.ok(reopened.ackedSeq() >= BULK);
  } finally {
    reopened.close();
  }
});

test('spine faults - gateway stopped and started while a real agent streams 10,000 events: all stored once, in order', async (t) => {
  const node = 'node-gwr';
  const a = await startAgent({
    node,
    supervisorUrl: spine.wsUrl,
    opencodeUrl: opencode.url,
    projects: [project('gamma')],
  });
  agents.push(a);
  await spine.events.wait((e) => e.node === node && e.type === 'node.snapshot');
  const drafts = bulkDrafts(node, 'gwr', ['ses_p', 'ses_q'], BULK);
  const subject = `hal.evt.${node}.gwr.message.part`;
  for (let i = 0; i < BULK; i += 1_000) a.agent.spool.append(drafts.slice(i, i + 1_000));
  a.agent.connection()?.notify();
  await waitFor(async () => (await storedOn(subject)) > 0, { timeoutMs: 20_000, intervalMs: 5 });
  const mark = spine.events.all.length;
  await spine.stopGateway();
  const atStop = await storedOn(subject);
  assert.ok(atStop < BULK, `stopped mid-stream (${atStop} of ${BULK} stored)`);
  t.diagnostic(`gateway stopped with ${atStop} of ${BULK} stored`);
  const offline = await waitFor(() => {
    const found = spine.events.since(mark, (e) => e.node === node && e.type === 'node.offline');
    return found.length > 0 ? found : undefined;
  });
  assert.deepEqual(
    offline.map((e) => e.data.reason),
    ['gateway_stopped'],
  );
  await spine.startGateway();
  const restarted = Date.now();
  let stored = atStop;
  const allStored = async () => {
    stored = await storedOn(subject);
    return stored >= BULK;
  };
  await waitFor(allStored, {
    timeoutMs: BULK_STORED_MS,
    message: 'all events stored after the gateway restart',
  }).catch((err: Error) => {
    const connected = a.agent.connection()?.ready() ?? false;
    throw new Error(
      `${err.message}: ${stored} of ${BULK}, spool ${a.agent.spool.depth()}, connected ${connected}`,
    );
  });
  t.diagnostic(`all stored ${Date.now() - restarted} ms after the restart`);
  await waitFor(() => spine.events.of((e) => e.node === node && e.project === 'gwr').length >= BULK, {
    timeoutMs: 20_000,
  });
  assert.equal(await storedOn(subject), BULK, 'no event stored twice');
  assert.equal(exactlyOnceInOrder(ofNode(node), drafts), undefined);
  assert.ok(ofNode(node, 'node.snapshot').length >= 2, 'snapshot re-sent to the new gateway');
  await waitFor(() => a.agent.spool.depth() === 0, { timeoutMs: 20_000, message: 'spool drained' });
});
