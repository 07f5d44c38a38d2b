import type { JetStreamClient } from '@hal/bus';
import type { Logger } from '@hal/observability';
import { StreamName } from '@hal/protocol';
import {
  AckPolicy,
  type ConsumerConfig,
  type ConsumerInfo,
  DeliverPolicy,
  JetStreamApiError,
} from '@nats-io/jetstream';

/** The durable consumer of the active policy instance (whichever holds the lease). */
export const POLICY_CONSUMER = 'hal-policy';
/** JSConsumerNotFoundErr. */
const CONSUMER_NOT_FOUND = 10014;

/**
 * Makes `hal-policy` ready for a new leader: created on the first start ("deliver new": the
 * stream's history is neither acted on nor notified); afterwards, when anything is delivered and
 * not acked (the previous leader's events in flight, or a pull it still has open), it is made anew
 * from its ack floor. Only the lease holder calls this, and `hal-policy` is the lease holder's
 * consumer: no other service reads through it.
 *
 * Why anew, and not left for redelivery: with many events in flight, the server hands a new
 * consumer the events behind the old leader's unacked ones at once, and the unacked ones only
 * after `ack_wait` — a session's `idle` after the `busy` that followed it. From the floor, every
 * event past it comes again in stream order; those the old leader had already handled are
 * recognised by their stream seq (facts.ts) and change nothing.
 */
export async function prepareConsumer(deps: {
  js: JetStreamClient;
  log: Logger;
  wanted: Partial<ConsumerConfig>;
}): Promise<void> {
  const jsm = await deps.js.jetstreamManager();
  let info: ConsumerInfo;
  try {
    info = await jsm.consumers.info(StreamName.EVENTS, POLICY_CONSUMER);
  } catch (err) {
    if (!(err instanceof JetStreamApiError) || err.code !== CONSUMER_NOT_FOUND) throw err;
    const last = (await jsm.streams.info(StreamName.EVENTS)).state.last_seq;
    await jsm.consumers.add(StreamName.EVENTS, { ...base(deps.wanted), opt_start_seq: last + 1 });
    return;
  }
  const c = info.config;
  // Nothing delivered and not acked, and nobody pulling: the position is exact as it is.
  if (info.num_ack_pending === 0 && info.num_waiting === 0) {
    if (c.max_ack_pending !== deps.wanted.max_ack_pending || c.ack_wait !== deps.wanted.ack_wait) {
      await jsm.consumers.update(StreamName.EVENTS, POLICY_CONSUMER, deps.wanted);
    }
    return;
  }
  const from = resumePoint(info);
  await jsm.consumers.delete(StreamName.EVENTS, POLICY_CONSUMER);
  await jsm.consumers.add(StreamName.EVENTS, { ...base(deps.wanted), ...from });
  deps.log.info(
    {
      consumer: POLICY_CONSUMER,
      ack_floor: info.ack_floor.stream_seq,
      delivered: info.delivered.stream_seq,
      in_flight: info.num_ack_pending,
      from,
    },
    'consumer resumed from its ack floor',
  );
}

function base(wanted: Partial<ConsumerConfig>): Partial<ConsumerConfig> & { durable_name: string } {
  return {
    durable_name: POLICY_CONSUMER,
    ack_policy: AckPolicy.Explicit,
    deliver_policy: DeliverPolicy.StartSequence,
    ...wanted,
  };
}

/** The first event not acked: past the ack floor; before the first ack, where the consumer began. */
function resumePoint(info: ConsumerInfo): Partial<ConsumerConfig> {
  if (info.ack_floor.consumer_seq > 0) return { opt_start_seq: info.ack_floor.stream_seq + 1 };
  const c = info.config;
  if (c.deliver_policy === DeliverPolicy.StartSequence && c.opt_start_seq !== undefined) {
    return { opt_start_seq: c.opt_start_seq };
  }
  // Created by an older version ("deliver new") and nothing acked yet: from when it was created.
  return { deliver_policy: DeliverPolicy.StartTime, opt_start_time: info.created };
}
