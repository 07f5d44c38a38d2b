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
 * A failed event is retried in its lane — never handed back to the server, which would deliver it
 * after the events behind it. Events held longer than a third of `ack_wait` (a slow command ahead
 * of them) are marked as still being worked on, as long as this instance leads.
 */
export function createEventConsumer(deps: {
  js: JetStreamClient;
  log: Logger;
  handle: (event: EventRecord, streamSeq: number) => Promise<void>;
  /** Checked before each event and before each "still working": false stops taking events. */
  stillLeading?: () => boolean;
  ackWaitMs?: number;
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

  const canAct = (): boolean => taking && leading();

  async function handleOne(msg: JsMsg, event: EventRecord): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      // Given up as leader: left unacked for the next leader, which starts from the ack floor.
      if (!canAct()) return;
      try {
        await deps.handle(event, msg.seq);
        msg.ack();
        return;
      } catch (err) {
        const delay = RETRY_DELAYS_MS[attempt];
        if (delay === undefined) {
          log.error(
            { err, seq: msg.seq, event: event.id },
            'event handling failed at every attempt; skipped',
          );
          msg.term();
          return;
        }
        log.error({ err, seq: msg.seq, event: event.id }, 'event handling failed; will retry');
        await new Promise((r) => setTimeout(r, delay));
      }
    }
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
    void lanes.run(laneOf(event), () => handleOne(msg, event)).then(() => held.delete(msg.seq));
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
      lanes = createOrderedLanes();
      held.clear();
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
