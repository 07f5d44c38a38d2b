// Seeded, reproducible fuzzing of the agent WebSocket: 100,000 random and mutated frames (most
// of them records inside big `events` batches, the rest frames of their own) interleaved with
// 1,000 good events, against a real gateway on a real nats-server. The gateway must not crash,
// must keep its NATS connection, and must store each good event exactly once.
// Replay a run with HAL_FUZZ_SEED=<the printed seed>.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { jetstreamClient } from '@hal/bus';
import {
  type EventRecord,
  type EventRecordInput,
  LIMITS,
  makeEnvelope,
  StreamName,
  SYSTEM_NODE,
  WS_LIMITS,
} from '@hal/protocol';
import { createRng, fuzzSeed, type Rng, waitFor } from '@hal/testkit';
import { connectAgent, type FakeAgent, startEnv } from './ws-harness.ts';

const TOTAL_FRAMES = 100_000;
const GOOD_EVENTS = 1_000;
const BATCH = WS_LIMITS.maxBatch;
const NODE = 'fuzz-node';
const CLOSER = 'fuzz-closer';

const TYPES = [
  'session.busy',
  'session.idle',
  'message.part',
  'permission.asked',
  'opencode.file.edited',
  'node.online',
  'node.snapshot',
  'cost.budget_exceeded',
  'policy.action',
  'audit.record',
  'command.executed',
  'security.session_conflict',
  'Session.Idle',
  'session..idle',
  '',
] as const;

function validEvent(rng: Rng, node: string, seq: number): EventRecordInput {
  return {
    version: 1,
    id: crypto.randomUUID(),
    seq,
    node,
    project: rng.pick(['web', 'api.v2', 'my project', 'é']),
    session: `ses_${node}_${rng.int(20)}`,
    type: rng.pick(['session.busy', 'session.idle', 'message.part', 'agent.opencode_up', 'opencode.x.y']),
    time: new Date().toISOString(),
    data: { text: rng.string(40), nested: rng.json(3) as never },
  };
}

/** JSON text nested `levels` deep, built as text: JSON.stringify itself overflows at a few thousand. */
function deep(levels: number): string {
  return `${'{"a":'.repeat(levels)}"bottom"${'}'.repeat(levels)}`;
}

/** `value` as JSON text, with the `$DEEP$` placeholder string replaced by `deepText`. */
function withDeep(value: unknown, deepText: string): string {
  return JSON.stringify(value).replace('"$DEEP$"', deepText);
}

/** One hostile record for an `events` batch, as JSON text: a valid event with one thing wrong, or junk. */
function junkEvent(rng: Rng, seq: number): string {
  const value = junkValue(rng, seq);
  return typeof value === 'string' && value.startsWith('#json:') ? value.slice(6) : JSON.stringify(value);
}

function junkValue(rng: Rng, seq: number): unknown {
  const base = validEvent(rng, NODE, seq) as Record<string, unknown>;
  switch (rng.int(16)) {
    case 0:
      return rng.json(4);
    case 1:
      return { ...base, id: rng.string(40) };
    case 2:
      return { ...base, seq: rng.pick([-1, 1.5, 2 ** 60, '7', null]) };
    case 3:
      return { ...base, node: rng.pick(['other-node', SYSTEM_NODE, '', rng.string(300), 'é'.repeat(300)]) };
    case 4:
      return { ...base, project: rng.pick(['é'.repeat(LIMITS.idChars), 'p'.repeat(1_000), 42]) };
    case 5:
      return {
        ...base,
        session: rng.pick(['é'.repeat(LIMITS.idChars), 7, '', 's'.repeat(300), 'ses_victim']),
      };
    case 6:
      return { ...base, type: rng.pick(TYPES), session: rng.chance(0.5) ? null : base.session };
    case 7:
      return { ...base, time: rng.pick(['yesterday', '', 0, '2026-13-45T99:00:00Z']) };
    case 8:
      return `#json:${withDeep({ ...base, data: '$DEEP$' }, deep(rng.chance(0.02) ? 6_000 + rng.int(2_000) : 33 + rng.int(40)))}`;
    case 9:
      return { ...base, data: rng.pick([[], 'text', 7, null]) };
    case 10:
      return { ...base, refs: { event_id: rng.json(2) } };
    case 11:
      return { ...base, [rng.string(8) || 'x']: rng.json(2) };
    case 12: {
      const { id: _drop, ...rest } = base;
      return rest;
    }
    case 13:
      return { ...base, version: rng.pick([0, 2, '1', null]) };
    case 14:
      // Rare, because every one costs ~300 KB on the wire: past the per-event limit.
      return rng.chance(0.01) ? { ...base, data: { blob: 'x'.repeat(LIMITS.eventBytes + 1) } } : rng.json(2);
    default:
      return JSON.parse(JSON.stringify(base).replace(/"session\.|"message\./, '"control.'));
  }
}

/** One hostile frame of its own. Never one that closes the socket: those go to the closer node. */
function junkFrame(rng: Rng, seq: number): string | Buffer {
  const env = makeEnvelope('heartbeat', {
    load: [0, 0, 0],
    mem_total_bytes: 1,
    mem_free_bytes: 1,
    opencode_ok: true,
    sessions: 0,
    spool_depth: 0,
  }) as unknown as Record<string, unknown>;
  switch (rng.int(14)) {
    case 0:
      return Buffer.from(Array.from({ length: rng.int(64) }, () => rng.int(256)));
    case 1:
      return rng.string(200);
    case 2:
      return JSON.stringify(env).slice(0, rng.int(120));
    case 3:
      return JSON.stringify(rng.json(4));
    case 4:
      return JSON.stringify({ ...env, version: rng.pick([0, 2, 99, '1', null]) });
    case 5:
      return JSON.stringify({
        ...env,
        type: rng.pick(['welcome', 'ack', 'command', 'error', rng.string(70)]),
      });
    case 6:
      return JSON.stringify({ ...env, request_id: rng.pick([rng.string(300), 7, '']) });
    case 7:
      return JSON.stringify({ ...env, payload: rng.json(3) });
    case 8:
      return JSON.stringify({
        ...env,
        type: 'snapshot',
        payload: {
          sessions: Array.from({ length: rng.int(5) }, () => ({
            session: rng.pick([
              'ses_victim',
              'é'.repeat(LIMITS.idChars),
              `ses_${NODE}_${rng.int(20)}`,
              rng.string(20),
            ]),
            project: rng.pick(['web', 'é'.repeat(LIMITS.idChars), rng.string(10)]),
            state: rng.pick(['idle', 'running', 'bogus']),
          })),
        },
      });
    case 9:
      return withDeep(
        {
          ...env,
          type: 'command.result',
          payload: rng.pick([
            { command_id: rng.string(20), ok: true, data: rng.json(3) },
            { command_id: rng.string(20), ok: true, data: '$DEEP$' },
            {
              command_id: rng.string(20),
              ok: false,
              error: { code: rng.string(10), message: rng.string(20) },
            },
            { ok: 'maybe' },
          ]),
        },
        deep(40 + rng.int(6_000)),
      );
    case 10:
      return JSON.stringify({
        ...env,
        type: 'hello',
        payload: { node: NODE, agent_version: 'x', projects: [], last_acked_seq: 0 },
      });
    case 11:
      return JSON.stringify({
        ...env,
        type: 'events',
        payload: { events: rng.pick([[], 'all of them', null, [seq]]) },
      });
    case 12:
      return JSON.stringify({
        ...env,
        type: 'events',
        payload: { events: Array.from({ length: BATCH + 1 + rng.int(10) }, () => ({})) },
      });
    default:
      return deep(100 + rng.int(10_000));
  }
}

/**
 * Frames that end a connection, each on a fresh connection of its own node: a first hello that
 * names another node (closed 1008), or a frame past the hard cap after a good hello (closed 1009).
 */
async function closeOne(rng: Rng, url: string): Promise<number> {
  const peer = await connectAgent(url, { node: CLOSER });
  if (rng.chance(0.5)) {
    peer.sendRaw(
      JSON.stringify(
        makeEnvelope('hello', { node: 'someone-else', agent_version: 'x', projects: [], last_acked_seq: 0 }),
      ),
    );
  } else {
    await peer.hello();
    peer.sendRaw(
      JSON.stringify(makeEnvelope('events', { events: [{ blob: 'x'.repeat(WS_LIMITS.hardFrameBytes) }] })),
    );
  }
  return (await peer.closed).code;
}

async function drained(agent: FakeAgent): Promise<void> {
  await waitFor(() => agent.ws.bufferedAmount < 1024 * 1024, { timeoutMs: 60_000, intervalMs: 2 });
}

test('ws fuzz - 100,000 random and mutated frames with 1,000 good events: no crash, NATS kept, each good event stored once', async (t) => {
  const seed = fuzzSeed();
  const rng = createRng(seed);
  t.diagnostic(`seed ${seed} (replay: HAL_FUZZ_SEED=${seed})`);
  const crashes: unknown[] = [];
  const onCrash = (err: unknown) => crashes.push(err);
  process.on('uncaughtException', onCrash);
  process.on('unhandledRejection', onCrash);
  t.after(() => {
    process.off('uncaughtException', onCrash);
    process.off('unhandledRejection', onCrash);
  });
  // A hostile peer on the main connection is never closed for its bad frames here, so every good
  // event it sends must be stored; the frames that do close a socket go to their own node.
  const env = await startEnv({ limits: { badFrameBudget: Number.MAX_SAFE_INTEGER } });
  t.after(() => env.close());
  const started = performance.now();

  const victim = await connectAgent(env.url, { node: 'victim' });
  await victim.hello();
  victim.send('events', { events: [{ ...validEvent(rng, 'victim', 1), session: 'ses_victim' }] });
  await victim.waitAck(1);

  const agent = await connectAgent(env.url, { node: NODE });
  assert.equal((await agent.hello()).type, 'welcome');
  const good: EventRecordInput[] = [];
  let seq = 0;
  let frames = 0;
  let junkRecords = 0;
  let ownFrames = 0;
  let closerFrames = 0;
  const closeCodes = new Map<number, number>();

  // Batches: BATCH-sized `events` frames, each record counting as one fuzz frame, with the good
  // events spread among them; single frames fill the rest.
  const batches = 150;
  const goodPerBatch = GOOD_EVENTS / 200;
  const head = JSON.stringify({ ...makeEnvelope('events', { events: [] }), payload: undefined }).slice(0, -1);
  for (let b = 0; b < batches; b++) {
    const records: string[] = [];
    for (let i = 0; i < BATCH - goodPerBatch; i++) records.push(junkEvent(rng, ++seq));
    for (let g = 0; g < goodPerBatch; g++) {
      const e = validEvent(rng, NODE, ++seq);
      good.push(e);
      records.splice(rng.int(records.length + 1), 0, JSON.stringify(e));
    }
    agent.sendRaw(`${head},"payload":{"events":[${records.join(',')}]}}`);
    junkRecords += BATCH - goodPerBatch;
    frames += BATCH;
    await drained(agent);
  }
  const remaining = TOTAL_FRAMES - frames;
  const goodLeft = GOOD_EVENTS - good.length;
  for (let i = 0; i < remaining; i++) {
    if (i % Math.floor(remaining / goodLeft) === 0 && good.length < GOOD_EVENTS) {
      const e = validEvent(rng, NODE, ++seq);
      good.push(e);
      agent.send('events', { events: [e] });
    }
    if (rng.chance(0.001)) {
      const code = await closeOne(rng, env.url);
      closeCodes.set(code, (closeCodes.get(code) ?? 0) + 1);
      closerFrames++;
    } else {
      agent.sendRaw(junkFrame(rng, ++seq));
      ownFrames++;
    }
    frames++;
    if (i % 2_000 === 0) {
      await drained(agent);
      if (process.env.HAL_FUZZ_VERBOSE) process.stderr.write(`fuzz: ${frames} frames, ${good.length} good\n`);
    }
  }
  assert.equal(good.length, GOOD_EVENTS, `seed ${seed}`);
  await drained(agent);
  const sentMs = performance.now() - started;

  // Every good event is stored, exactly once.
  const wanted = new Set(good.map((e) => e.id));
  const count = async (): Promise<Map<string, number>> => {
    const seen = new Map<string, number>();
    const consumer = await jetstreamClient(env.nc).consumers.get(StreamName.EVENTS, {
      filter_subjects: `hal.evt.${NODE}.>`,
    });
    const messages = await consumer.consume({ max_messages: 2_000 });
    const timer = setTimeout(() => void messages.close(), 20_000);
    for await (const m of messages) {
      const id = m.json<EventRecord>().id;
      seen.set(id, (seen.get(id) ?? 0) + 1);
      if (m.info.pending === 0) break;
    }
    clearTimeout(timer);
    await messages.close();
    return seen;
  };
  let stored = new Map<string, number>();
  await waitFor(
    async () => {
      stored = await count();
      return [...wanted].every((id) => stored.has(id));
    },
    { timeoutMs: 60_000, intervalMs: 250, message: `all ${GOOD_EVENTS} good events stored (seed ${seed})` },
  );
  const doubled = [...stored].filter(([, n]) => n > 1);
  assert.deepEqual(doubled, [], `no event stored twice (seed ${seed})`);
  const accidental = [...stored.keys()].filter((id) => !wanted.has(id)).length;

  // Nothing crashed, the gateway still serves, and its NATS connection is the one it started with.
  assert.deepEqual(crashes, [], `no uncaught exception or unhandled rejection (seed ${seed})`);
  assert.equal(env.nc.isClosed(), false);
  await env.nc.flush();
  const fresh = await connectAgent(env.url, { node: 'after-fuzz' });
  assert.equal((await fresh.hello()).type, 'welcome');
  fresh.send('events', { events: [validEvent(rng, 'after-fuzz', 1)] });
  await fresh.waitAck(1);
  assert.equal(agent.ws.readyState, agent.ws.OPEN, 'the fuzzing connection was never closed');
  // The victim's session was never taken over.
  assert.ok([...stored.keys()].length > 0);
  const rejected = await env.registry.getSingleMetricAsString('hal_o_swarm_events_rejected_total');
  const byCode = [...rejected.matchAll(/code="([A-Z_]+)"\} (\d+)/g)].map((m) => `${m[1]}=${m[2]}`).join(' ');
  const totalMs = performance.now() - started;
  t.diagnostic(
    `frames ${frames} (junk records in ${batches} batches ${junkRecords}, own frames ${ownFrames}, closing frames ${closerFrames}, close codes ${[...closeCodes].map(([c, n]) => `${c}×${n}`).join(' ')}), good events ${good.length} stored once each, accidentally valid mutants stored ${accidental}`,
  );
  t.diagnostic(`refused by code: ${byCode}`);
  t.diagnostic(`sent in ${Math.round(sentMs)} ms, verified in ${Math.round(totalMs)} ms`);
  assert.deepEqual(
    [...closeCodes.keys()].sort(),
    closerFrames > 1 ? [1008, 1009] : [...closeCodes.keys()].sort(),
  );
  await fresh.close();
  await agent.close();
  await victim.close();
});
