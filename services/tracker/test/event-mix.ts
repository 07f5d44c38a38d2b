import { CONTEXT_TASK_FILE, type EventRecord, SessionState } from '@hal/protocol';
import { eventFactory, usage } from './event-factory.ts';

/** A small seeded generator (mulberry32): the same seed gives the same stream on every run. */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

/**
 * `count` events of every kind the projection acts on, from two nodes over a few shared session
 * ids: state changes in every order, asks and replies, repeated and aborted messages, restarts
 * and hand-offs, nodes going offline and coming back with snapshots, one node reporting the
 * other's sessions, repeated records (the same id again) and the odd unparseable payload.
 */
export function mixedEvents(seed: number, count: number): Array<EventRecord | string> {
  const next = random(seed);
  const pick = <T>(items: readonly T[]): T => items[Math.floor(next() * items.length)] as T;
  const nodes = ['node-a', 'node-b'].map((node) => ({
    project: `proj-${node}`,
    make: eventFactory(node, `proj-${node}`),
    sessions: [0, 1, 2, 3, 4].map((i) => `${node}-s${i}`),
  }));
  const states = Object.values(SessionState).filter((s) => s !== SessionState.UNREACHABLE);
  // Kinds by weight: mostly a session's own busy/idle/parts, now and then anything else.
  const kinds = Object.entries({
    online: 1,
    offline: 1,
    snapshot: 1,
    created: 3,
    retry: 4,
    compacted: 2,
    error: 3,
    deleted: 1,
    completed: 8,
    part: 20,
    task: 2,
    asked: 4,
    replied: 4,
    question: 3,
    answered: 3,
    restart: 2,
    handoff: 2,
    busy: 12,
    idle: 12,
  }).flatMap(([kind, weight]) => Array<string>(weight).fill(kind));
  const out: Array<EventRecord | string> = [];
  for (let i = 0; i < count; i++) {
    const { project, make, sessions } = pick(nodes);
    // Now and then a node reports the other node's session (refused, but indexed).
    const session = next() < 0.05 ? pick(pick(nodes).sessions) : pick(sessions);
    const message = `m${Math.floor(next() * 6)}`;
    const ask = `p${Math.floor(next() * 3)}`;
    const roll = next();
    if (roll < 0.03 && out.length > 0) {
      out.push(pick(out)); // the same record again: a duplicate by id (or the same bad payload)
      continue;
    }
    if (roll < 0.04) {
      out.push('{not json');
      continue;
    }
    const event = ((): EventRecord => {
      switch (pick(kinds)) {
        case 'online':
          return make('node.online', null, { agent_version: '1.0.0', projects: [], gateway: 'gw1' });
        case 'offline':
          return make('node.offline', null, { reason: 'socket_closed' });
        case 'snapshot':
          return make('node.snapshot', null, {
            sessions: sessions
              .filter(() => next() < 0.7)
              .map((s) => ({
                session: s,
                project,
                state: pick(states),
                ...(next() < 0.5 ? { title: `t${i}` } : {}),
                ...(next() < 0.3 ? { pending_permissions: [ask] } : {}),
              })),
          });
        case 'created':
          return make('session.created', session, { title: `title ${i}`, directory: '/p' });
        case 'retry':
          return make('session.retry', session, { attempt: i, message: 'rate limited' });
        case 'compacted':
          return make('session.compacted', session);
        case 'error':
          return make(
            'session.error',
            session,
            next() < 0.5 ? { kind: 'MessageAbortedError' } : { kind: 'APIError', message: 'boom' },
          );
        case 'deleted':
          return make('session.deleted', session);
        case 'completed':
          return make('message.completed', session, {
            message_id: message,
            model: pick(['m-1', 'm-2']),
            provider: 'fake',
            tokens: usage(Math.floor(next() * 100), Math.floor(next() * 10)),
            cost_usd: next(),
            ...(next() < 0.05 ? { error: 'MessageAbortedError' } : {}),
          });
        case 'part':
          return make('message.part', session, {
            message_id: message,
            part_id: `x${Math.floor(next() * 4)}`,
            role: next() < 0.2 ? 'user' : 'assistant',
            part_type: pick(['text', 'tool', 'step-start']),
            text: `part ${i}`,
          });
        case 'task':
          return make('session.task', session, { task: `task ${i}`, file: CONTEXT_TASK_FILE });
        case 'asked':
          return make('permission.asked', session, { permission_id: ask, permission: 'bash' });
        case 'replied':
          return make('permission.replied', session, { permission_id: ask, response: 'once' });
        case 'question':
          return make('question.asked', session, { question_id: `q${i}` });
        case 'answered':
          return make('question.replied', session, { question_id: `q${i}` });
        case 'restart':
          return make('command.executed', session, {
            command_type: 'restart',
            command_id: `c${i}`,
            actor: { kind: 'user', id: 'otto' },
            session,
            ok: next() < 0.8,
            result_session: pick(pick(nodes).sessions),
            duration_ms: 5,
          });
        case 'handoff':
          return make('handoff.completed', session, {
            handoff_id: `ho_${i}`,
            session: pick(pick(nodes).sessions),
            went_idle: true,
            waited_ms: 10,
          });
        case 'busy':
          return make('session.busy', session);
        default:
          return make('session.idle', session);
      }
    })();
    out.push(event);
  }
  return out;
}
