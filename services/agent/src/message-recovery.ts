import { type MapperState, storedMessageEvents } from './event-mapper.ts';
import type { OpencodeClient } from './opencode-client.ts';
import type { ProjectEvent, ProjectRef } from './opencode-events.ts';

/**
 * opencode's clock can put a message's completion a little before the session's `time.updated`
 * that was seen live; the mapper's memory drops anything already sent, so a margin costs nothing.
 */
const SLACK_MS = 1_000;

export interface RecoverMessagesInput {
  client: OpencodeClient;
  state: MapperState;
  project: ProjectRef;
  session: string;
  /** The session's `time.updated` last seen live (opencode ms); undefined = every message is news. */
  since: number | undefined;
}

/**
 * The message events of one session that the agent missed while opencode's stream was down —
 * above all `message.completed`, which carries the tokens and cost of a turn that ended meanwhile.
 * Marked `reconciled: true`; messages the mapper already reported are skipped.
 */
export async function recoverMessages(input: RecoverMessagesInput): Promise<ProjectEvent[]> {
  const { project, session, since } = input;
  const messages = await input.client.messages(project.directory, session);
  const out: ProjectEvent[] = [];
  for (const m of messages) {
    const at = m.info.time?.completed ?? m.info.time?.created;
    if (since !== undefined && at !== undefined && at < since - SLACK_MS) continue;
    for (const e of storedMessageEvents(input.state, m, { type: 'reconcile', session_id: session })) {
      out.push({ ...e, project: project.name, data: { ...e.data, reconciled: true } });
    }
  }
  return out;
}
