import type { JetStreamClient, JsMsg } from '@hal/bus';
import type { CostConfig } from '@hal/config';
import type { Logger } from '@hal/observability';
import {
  controlPlaneTime,
  EventType,
  eventRecordSchema,
  messageCompletedDataSchema,
  StreamName,
  subjects,
} from '@hal/protocol';
import { AckPolicy, type ConsumerMessages, DeliverPolicy, JetStreamApiError } from '@nats-io/jetstream';
import type { CostStore, MessageSpendRow } from './cost-store.ts';
import { tokensToMicros, usdNumberToMicros } from './money.ts';
import { dayOf } from './providers/report-rows.ts';

/** JSConsumerNotFoundErr. */
const CONSUMER_NOT_FOUND = 10014;
const ACK_WAIT_NS = 30 * 1e9;
const RETRY_MS = 1000;

type ModelRates = CostConfig['model_rates'];

/**
 * One message.completed → that message's row. opencode's own cost is used when it has one; when
 * it reports 0 (subscription, unknown model) the cost is estimated from `cost.model_rates` and
 * the row is marked estimated. Invalid events give undefined (logged and skipped by the caller).
 */
export function spendOf(raw: string, rates: ModelRates): { row?: MessageSpendRow; reason?: string } {
  let json: unknown;
  try {
    json = JSON.parse(raw);
  } catch {
    return { reason: 'not JSON' };
  }
  const event = eventRecordSchema.safeParse(json);
  if (!event.success) return { reason: `not an event: ${event.error.issues[0]?.message ?? ''}` };
  const e = event.data;
  if (e.type !== EventType.MESSAGE_COMPLETED) return { reason: `unexpected type ${e.type}` };
  if (e.session === null) return { reason: 'message.completed without a session' };
  const data = messageCompletedDataSchema.safeParse(e.data);
  if (!data.success) return { reason: `bad message.completed data: ${data.error.issues[0]?.message ?? ''}` };
  const d = data.data;
  const t = d.tokens;
  let micros = usdNumberToMicros(d.cost_usd) ?? 0;
  let estimated: 0 | 1 = 0;
  if (micros === 0) {
    estimated = 1;
    const rate = rates[d.model] ?? rates[`${d.provider}/${d.model}`];
    if (rate !== undefined) {
      // Reasoning tokens are billed as output by both providers.
      micros =
        tokensToMicros(t.input, rate.input) +
        tokensToMicros(t.output + t.reasoning, rate.output) +
        tokensToMicros(t.cache_read, rate.cache_read) +
        tokensToMicros(t.cache_write, rate.cache_write);
    }
  }
  // The day a spend counts for is the control plane's: a host's clock may be off.
  const atMs = controlPlaneTime(e) ?? Date.parse(e.time);
  return {
    row: {
      session: e.session,
      messageId: d.message_id,
      node: e.node,
      project: e.project,
      provider: d.provider,
      model: d.model,
      day: dayOf(atMs),
      atMs,
      input: t.input,
      output: t.output,
      reasoning: t.reasoning,
      cacheRead: t.cache_read,
      cacheWrite: t.cache_write,
      micros,
      estimated,
    },
  };
}

export interface SessionSpendDeps {
  js: JetStreamClient;
  store: CostStore;
  rates: ModelRates;
  log: Logger;
  /** This instance's own consumer: the only one it ever deletes or re-creates. */
  durableName: string;
  /** The server removes the consumer once unused this long: a gone instance leaves no orphan. */
  inactiveThresholdSec: number;
  /** After each committed batch (budgets re-evaluate). */
  onApplied?: (rows: MessageSpendRow[]) => void;
}

export interface SessionSpend {
  start(): Promise<void>;
  stop(): Promise<void>;
}

/**
 * A durable consumer on HAL_EVENTS filtered to message.completed. Rows and the applied stream
 * sequence commit in one transaction and messages are acked after it, so a restart resumes
 * exactly where the database is and changes no total; a redelivered or repeated message
 * replaces its own row instead of adding to it.
 */
export function createSessionSpend(deps: SessionSpendDeps): SessionSpend {
  const log = deps.log.child({ component: 'session-spend' });
  let messages: ConsumerMessages | undefined;
  let buffer: JsMsg[] = [];
  let scheduled = false;
  let stopped = true;
  let retryTimer: NodeJS.Timeout | undefined;

  async function position(): Promise<void> {
    const jsm = await deps.js.jetstreamManager();
    const applied = deps.store.appliedSeq(deps.durableName);
    // Re-created from the database's position every start: the database, not the server, is the
    // truth of what was counted (a deleted database replays everything again, once). It is this
    // instance's own consumer (named after it), never another instance's.
    try {
      await jsm.consumers.delete(StreamName.EVENTS, deps.durableName);
    } catch (err) {
      if (!(err instanceof JetStreamApiError) || err.code !== CONSUMER_NOT_FOUND) throw err;
    }
    await jsm.consumers.add(StreamName.EVENTS, {
      durable_name: deps.durableName,
      ack_policy: AckPolicy.Explicit,
      ack_wait: ACK_WAIT_NS,
      inactive_threshold: deps.inactiveThresholdSec * 1e9,
      filter_subject: subjects.eventFilter({ type: EventType.MESSAGE_COMPLETED }),
      ...(applied === 0
        ? { deliver_policy: DeliverPolicy.All }
        : { deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: applied + 1 }),
    });
    log.info({ applied_seq: applied }, 'consumer positioned');
  }

  function flush(): void {
    scheduled = false;
    if (buffer.length === 0) return;
    const batch = buffer;
    buffer = [];
    const applied = deps.store.appliedSeq(deps.durableName);
    const rows: MessageSpendRow[] = [];
    let last = applied;
    for (const m of batch) {
      if (m.seq <= applied) continue;
      last = Math.max(last, m.seq);
      const { row, reason } = spendOf(m.string(), deps.rates);
      if (row !== undefined) rows.push(row);
      else log.warn({ stream_seq: m.seq, reason }, 'event skipped');
    }
    try {
      deps.store.applyMessages(deps.durableName, rows, last);
    } catch (err) {
      // Not acked: the server redelivers after ack_wait; restart the consumer sooner.
      log.error({ err }, 'batch not applied; restarting the consumer');
      restart();
      return;
    }
    for (const m of batch) m.ack();
    if (rows.length > 0) deps.onApplied?.(rows);
  }

  async function consume(): Promise<void> {
    await position();
    const consumer = await deps.js.consumers.get(StreamName.EVENTS, deps.durableName);
    messages = await consumer.consume({
      max_messages: 500,
      callback: (m) => {
        buffer.push(m);
        if (!scheduled) {
          scheduled = true;
          setImmediate(flush);
        }
      },
    });
  }

  function restart(): void {
    const old = messages;
    messages = undefined;
    buffer = [];
    void old?.close();
    clearTimeout(retryTimer);
    retryTimer = setTimeout(() => {
      if (stopped) return;
      consume().catch((err: unknown) => {
        log.error({ err }, 'consumer restart failed');
        restart();
      });
    }, RETRY_MS);
    retryTimer.unref();
  }

  return {
    async start() {
      stopped = false;
      await consume();
    },
    async stop() {
      stopped = true;
      clearTimeout(retryTimer);
      await messages?.close();
      messages = undefined;
      // Commit what already arrived rather than have it redelivered.
      flush();
    },
  };
}
