import type { JetStreamClient, JsMsg } from '@hal/bus';
import type { Logger } from '@hal/observability';
import { type EventRecord, EventType, eventRecordSchema, StreamName } from '@hal/protocol';
import type { ConsumerConfig, ConsumerMessages } from '@nats-io/jetstream';
import { POLICY_CONSUMER, prepareConsumer } from './consumer-position.ts';
import { createOrderedLanes } from './ordered-lanes.ts';

const DEFAULT_ACK_WAIT_MS = 10_000;
/**
 * Events delivered and not yet acked. Deep enough that a session waiting on a slow command (up to
 * the command timeout) does not hold the others up at 1,000 events/s for long; bounded so a
 * stuck one cannot make the server hand out the whole stream.
 */
const MAX_IN_FLIGHT = 4_096;
/** Delays between attempts at an event that failed; after the last, it is given up (logged). */
const RETRY_DELAYS_MS = [500, 2_000, 2_000, 2_000] as const;
/** Most events of one session handled as one batch (one facts write). */
const MAX_BATCH = 64;

/**
 * Events of one session, or one node-wide or fleet-wide event, in stream order. `seq` is the
 * event's position: its stream seq plus the stream's offset (stream-epoch.ts).
 */
export type EventBatch = ReadonlyArray<{ event: EventRecord; seq: number }>;

export interface EventConsumer {
  start(): Promise<void>;
  stop(): Promise<void>;
}

/**
 * Many events in flight, handled in order where order matters: one lane per session, each node's
 * own events ahead of or behind all of its sessions', the few events about everything alone
 * (ordered-lanes.ts). Each event is acked once handled; the server's ack floor is then the point
 * before which every event is done. A new leader starts from that floor (consumer-position.ts),
 * and what it sees again, it recognises by stream seq (`handle` gets it).
 *
 * Events of one session that arrive while its lane is busy wait as one batch, handled together
 * (`handle` writes the session's facts once for them) and acked together: when caught up a batch
 * is one event; behind, the backlog of each session shrinks by a batch per KV write, so the
 * consumer catches up faster the further behind it is.
 *
 * A failed event is retried in its lane — never handed back to the server, which would deliver it
 * after the events behind it. Events held longer than a third of `ack_wait` (a slow command ahead
 * of them) are marked as still being worked on, as long as this instance leads.
 */
export function createEventConsumer(deps: {
  js: JetStreamClient;
  log: Logger;
  /**
   * Handles a batch: the events of one session that waited in its lane while the one before ran
   * (so, when caught up, one event), or one node-wide or fleet-wide event. Each is acked when the
   * batch is done.
   */
  handle: (batch: EventBatch) => Promise<void>;
  /** Checked before each event and before each "still working": false stops taking events. */
  stillLeading?: () => boolean;
  ackWaitMs?: number;
  /**
   * Read at each start: added to stream seqs to give the positions `handle` gets, which only grow
   * even when HAL_EVENTS is made anew (stream-epoch.ts). Without it, positions are stream seqs.
   */
  positionOffset?: () => Promise<number>;
}): EventConsumer {
  const log = deps.log.child({ component: 'consumer' });
  const ackWaitMs = deps.ackWaitMs ?? DEFAULT_ACK_WAIT_MS;
  const leading = deps.stillLeading ?? (() => true);
  const wanted: Partial<ConsumerConfig> = { ack_wait: ackWaitMs * 1e6, max_ack_pending: MAX_IN_FLIGHT };
  let messages: ConsumerMessages | undefined;
  let loop: Promise<void> | undefined;
  let keepAlive: NodeJS.Timeout | undefined;
  let lanes = createOrderedLanes();
  /** Delivered, not yet acked or given up: by stream seq, in the order received. */
  const held = new Map<number, { msg: JsMsg; since: number }>();
  let taking = false;
  let offset = 0;

  const canAct = (): boolean => taking && leading();

  async function handleBatch(items: ReadonlyArray<{ msg: JsMsg; event: EventRecord }>): Promise<void> {
    const batch = items.map(({ msg, event }) => ({ event, seq: offset + msg.seq }));
    const first = items[0];
    if (first === undefined) return;
    for (let attempt = 0; ; attempt++) {
      // Given up as leader: left unacked for the next leader, which starts from the ack floor.
      if (!canAct()) return;
      try {
        await deps.handle(batch);
        for (const { msg } of items) msg.ack();
        return;
      } catch (err) {
        // Again from the batch's first event: those whose effect was stored are recognised by
        // their stream seq (facts.ts) and change nothing.
        const where = { seq: first.msg.seq, event: first.event.id, events: items.length };
        const delay = RETRY_DELAYS_MS[attempt];
        if (delay === undefined) {
          log.error({ err, ...where }, 'event handling failed at every attempt; skipped');
          for (const { msg } of items) msg.term();
          return;
        }
        log.error({ err, ...where }, 'event handling failed; will retry');
        await new Promise((r) => setTimeout(r, delay));
      }
    }
  }

  /**
   * A session's batch not yet started, which later events of that session join. Closed when it
   * starts, and when a node-wide or fleet-wide event is scheduled after it (what comes next must
   * follow that event).
   */
  const open = new Map<string, { items: Array<{ msg: JsMsg; event: EventRecord }>; node: string }>();

  function schedule(path: string[], msg: JsMsg, event: EventRecord): void {
    if (path.length === 2) {
      const key = path.join('\u0000');
      const joinable = open.get(key);
      if (joinable !== undefined && joinable.items.length < MAX_BATCH) {
        joinable.items.push({ msg, event });
        return;
      }
      const batch = { items: [{ msg, event }], node: path[0] ?? '' };
      open.set(key, batch);
      void lanes
        .run(path, () => {
          if (open.get(key) === batch) open.delete(key);
          return handleBatch(batch.items);
        })
        .then(() => {
          for (const item of batch.items) held.delete(item.msg.seq);
        });
      return;
    }
    // Node-wide (path [node]) or fleet-wide ([]): the batches scheduled before it stay before it.
    const node = path[0];
    for (const [key, batch] of open) if (node === undefined || batch.node === node) open.delete(key);
    void lanes.run(path, () => handleBatch([{ msg, event }])).then(() => held.delete(msg.seq));
  }

  function receive(msg: JsMsg): void {
    // A redelivery of an event still in a lane (it waited past ack_wait): the lane has it.
    if (held.has(msg.seq)) return;
    let raw: unknown;
    try {
      raw = msg.json();
    } catch {
      log.warn({ seq: msg.seq }, 'event is not JSON; skipped');
      msg.term();
      return;
    }
    const parsed = eventRecordSchema.safeParse(raw);
    if (!parsed.success) {
      log.warn({ seq: msg.seq, subject: msg.subject }, 'event does not match the schema; skipped');
      msg.term();
      return;
    }
    const event = parsed.data;
    held.set(msg.seq, { msg, since: Date.now() });
    schedule(laneOf(event), msg, event);
  }

  function markWorking(): void {
    if (!canAct()) return;
    const before = Date.now() - ackWaitMs / 3;
    // Oldest first: stop at the first one held for less than that.
    for (const { msg, since } of held.values()) {
      if (since > before) break;
      msg.working();
    }
  }

  return {
    async start() {
      await prepareConsumer({ js: deps.js, log, wanted });
      offset = (await deps.positionOffset?.()) ?? 0;
      lanes = createOrderedLanes();
      held.clear();
      open.clear();
      taking = true;
      const consumer = await deps.js.consumers.get(StreamName.EVENTS, POLICY_CONSUMER);
      messages = await consumer.consume({ max_messages: 512 });
      const iter = messages;
      keepAlive = setInterval(markWorking, ackWaitMs / 3);
      loop = (async () => {
        for await (const msg of iter) {
          if (!canAct()) {
            // No longer the active instance (a stall, a partition): stop pulling. What was
            // delivered stays unacked; the next leader starts from the ack floor.
            void iter.close();
            break;
          }
          receive(msg);
        }
      })().catch((err) => log.error({ err }, 'event consumer stopped'));
    },
    async stop() {
      // No new event starts; those running finish (their acks still count), the rest wait for
      // the next leader.
      taking = false;
      if (keepAlive) clearInterval(keepAlive);
      keepAlive = undefined;
      await messages?.close();
      await loop;
      await lanes.idle();
      held.clear();
      open.clear();
    },
  };
}

/** The lane of an event: what it reads and writes (engine.ts onEvent) decides what it must follow. */
function laneOf(event: EventRecord): string[] {
  // About every session: a fleet-wide budget, a milestone that starts sessions elsewhere.
  if (event.type === EventType.ENV_MILESTONE) return [];
  if (event.type === EventType.COST_BUDGET_EXCEEDED && event.session === null) return [];
  return event.session === null ? [event.node] : [event.node, event.session];
}
