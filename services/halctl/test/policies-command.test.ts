import assert from 'node:assert/strict';
import { test } from 'node:test';
import { POLICIES_LIST_PATH, policiesList } from '../src/commands/policies.ts';

const policies = [
  {
    name: 'resume_on_idle',
    enabled: true,
    enabled_source: 'override',
    dry_run: false,
    config: {},
    recent_actions: [
      {
        policy: 'resume_on_idle',
        decision: 'acted',
        reason: 'idle for 312 s (threshold 300 s)',
        time: '2030-01-01T00:00:00.000Z',
        node: 'node-a',
        project: 'proj',
        session: 's1',
      },
    ],
  },
  {
    name: 'node_offline',
    enabled: false,
    enabled_source: 'config',
    dry_run: true,
    config: {},
    recent_actions: [],
  },
];

test('halctl policies list - a table of policies with their recent actions', async () => {
  const asked: string[] = [];
  let text = '';
  await policiesList(
    {
      get: async (path) => {
        asked.push(path);
        return policies;
      },
    },
    { write: (c) => (text += c) },
  );
  assert.deepEqual(asked, [POLICIES_LIST_PATH]);
  assert.equal(
    text,
    [
      'POLICY          STATE      SOURCE    ACTIONS',
      'resume_on_idle  enabled    override  1',
      '  2030-01-01T00:00:00.000Z  acted    s1  idle for 312 s (threshold 300 s)',
      'node_offline    disabled*  config    0',
      '* dry run: decisions are recorded, nothing is done',
      '',
    ].join('\n'),
  );
});

test('halctl policies list - an answer that is not a policy list is refused', async () => {
  await assert.rejects(
    policiesList({ get: async () => [{ name: 'x' }] }, { write: () => undefined }),
    /enabled/,
  );
});
