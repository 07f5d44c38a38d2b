import { type AuditRecordInput, auditRecordSchema, type EventRecord, subjects } from '@hal/protocol';
import { type JetStreamClient, jetstream, type PubAck } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/nats-core';
import { publishWithMsgId } from './event-publisher.ts';

/**
 * Publishes one event into HAL_EVENTS with its id as `Nats-Msg-Id`, so a resend after a crash
 * is stored once. Resolves only when JetStream has the event on disk.
 */
export function publishEvent(js: JetStreamClient, event: EventRecord, json?: string): Promise<PubAck>;
/**
 * The same, for a caller that serialised the event already and keeps only what the publish needs
 * (the gateway's session queues: thousands of events wait there, and a parsed record each was
 * most of its garbage).
 */
export function publishEvent(
  js: JetStreamClient,
  event: Pick<EventRecord, 'id' | 'node' | 'project' | 'type'>,
  json: string,
): Promise<PubAck>;
export function publishEvent(
  js: JetStreamClient,
  event: Pick<EventRecord, 'id' | 'node' | 'project' | 'type'>,
  json?: string,
): Promise<PubAck> {
  // `json` lets a caller that already serialised the event (to measure it) skip a pass. Not
  // async (one promise less per event on the gateway's hot path), so a subject the builder
  // refuses (LIMIT_EXCEEDED) is turned into a rejection here, never a throw in a listener.
  try {
    const subject = subjects.event(event.node, event.project, event.type);
    return publishWithMsgId(js, subject, json ?? JSON.stringify(event), event.id);
  } catch (err) {
    return Promise.reject(err);
  }
}

/** Records a mutating action in HAL_AUDIT (`hal.audit.<actor-kind>`). */
export async function publishAudit(js: JetStreamClient, input: AuditRecordInput): Promise<PubAck> {
  const record = auditRecordSchema.parse(input);
  return js.publish(subjects.audit(record.actor.kind), JSON.stringify(record), { msgID: record.id });
}

export function jetstreamClient(nc: NatsConnection): JetStreamClient {
  return jetstream(nc);
}
