import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ErrorCode, HalError, type SessionView } from '@hal/protocol';
import { actorOf, requireRole, resolveTarget, type TrackerClient } from '../src/index.ts';

function view(session: string, state: SessionView['state'], last: string, project = 'web'): SessionView {
  return {
    session,
    node: 'alpha',
    project,
    state,
    title: null,
    model: null,
    provider: null,
    current_task: null,
    tokens: { input: 0, output: 0, reasoning: 0, cache_read: 0, cache_write: 0 },
    cost_usd: 0,
    compactions: 0,
    errors: 0,
    last_error: null,
    pending_permissions: [],
    started_at: last,
    last_activity_at: last,
    state_since: last,
    previous_session: null,
    next_session: null,
  };
}

/** A tracker stand-in answering from a list, with the tracker's own SESSION_NOT_FOUND. */
function trackerOf(sessions: SessionView[]): TrackerClient {
  return {
    async query(q, body) {
      const b = body as { session?: string; project?: string };
      if (q === 'sessions_get') {
        const s = sessions.find((x) => x.session === b.session);
        if (!s) throw new HalError(ErrorCode.SESSION_NOT_FOUND, `no session ${b.session}`);
        return s as never;
      }
      const list = sessions.filter((x) => x.project === b.project);
      return { sessions: list, next_cursor: null, total: list.length } as never;
    },
  };
}

test('commands target - a session id is itself; a project is its most recently active live session', async () => {
  const t = trackerOf([
    view('s-old', 'idle', '2026-01-01T10:00:00Z'),
    view('s-new', 'error', '2026-01-01T12:00:00Z'),
    view('s-done', 'completed', '2026-01-01T13:00:00Z'),
    view('s-busy', 'running', '2026-01-01T11:00:00Z'),
  ]);
  assert.equal((await resolveTarget(t, 's-old')).session, 's-old');
  assert.equal((await resolveTarget(t, 'web')).session, 's-new');
});

test('commands target - several busy sessions of a project are TARGET_AMBIGUOUS listing them; none live is not found', async () => {
  const busy = trackerOf([
    view('a', 'running', '2026-01-01T10:00:00Z'),
    view('b', 'waiting_input', '2026-01-01T11:00:00Z'),
  ]);
  await assert.rejects(resolveTarget(busy, 'web'), (e: unknown) => {
    assert.ok(e instanceof HalError && e.code === ErrorCode.TARGET_AMBIGUOUS);
    assert.deepEqual(
      (e.details as { candidates: Array<{ session: string }> }).candidates.map((c) => c.session),
      ['b', 'a'],
    );
    return true;
  });
  const dead = trackerOf([view('a', 'killed', '2026-01-01T10:00:00Z')]);
  await assert.rejects(resolveTarget(dead, 'web'), /project "web" has no live session/);
  await assert.rejects(resolveTarget(dead, 'nothing'), /no session or project is named "nothing"/);
});

test('commands roles - below the needed role is FORBIDDEN naming who; the actor keeps a Discord name', () => {
  const sam = { kind: 'discord' as const, id: '123456789012345678', name: 'sam', role: null };
  assert.throws(() => requireRole(sam, 'operator', 'session.kill'), {
    code: 'FORBIDDEN',
    message: 'session.kill needs the operator role; discord user "sam" is not a viewer, operator or admin',
  });
  assert.deepEqual(actorOf(sam), { kind: 'discord', id: '123456789012345678', name: 'sam' });
  assert.deepEqual(actorOf({ kind: 'user', id: 'otto', name: 'otto', role: 'operator' }), {
    kind: 'user',
    id: 'otto',
  });
});
