import { type AuditRecordInput, auditRecordSchema, type EventRecord, subjects } from '@hal/protocol';
import { type JetStreamClient, jetstream, type PubAck } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/nats-core';

/**
 * Publishes one event into HAL_EVENTS with its id as `Nats-Msg-Id`, so a resend after a crash
 * is stored once. Resolves only when JetStream has the event on disk.
 */
export async function publishEvent(js: JetStreamClient, event: EventRecord, json?: string): Promise<PubAck> {
  // Async so a subject the builder refuses (LIMIT_EXCEEDED) is a rejection, never a throw in a
  // listener. `json` lets a caller that already serialised the event (to measure it) skip a pass.
  return await js.publish(
    subjects.event(event.node, event.project, event.type),
    json ?? JSON.stringify(event),
    {
      msgID: event.id,
    },
  );
}

/** Records a mutating action in HAL_AUDIT (`hal.audit.<actor-kind>`). */
export async function publishAudit(js: JetStreamClient, input: AuditRecordInput): Promise<PubAck> {
  const record = auditRecordSchema.parse(input);
  return js.publish(subjects.audit(record.actor.kind), JSON.stringify(record), { msgID: record.id });
}

export function jetstreamClient(nc: NatsConnection): JetStreamClient {
  return jetstream(nc);
}
