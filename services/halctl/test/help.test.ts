import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { test } from 'node:test';
import { halctl } from './halctl-run.ts';

const SNAPSHOTS = new URL('./snapshots/', import.meta.url);

/** Compares with the committed snapshot; `UPDATE_SNAPSHOTS=1` rewrites it after a deliberate change. */
async function matchSnapshot(name: string, actual: string): Promise<void> {
  const file = new URL(name, SNAPSHOTS);
  if (process.env.UPDATE_SNAPSHOTS === '1') await writeFile(file, actual);
  assert.equal(
    actual,
    await readFile(file, 'utf8'),
    `${name} differs; run with UPDATE_SNAPSHOTS=1 if intended`,
  );
}

test('halctl help - top-level --help matches the snapshot', async () => {
  const r = await halctl(['--help']);
  assert.equal(r.code, 0);
  assert.equal(r.stderr, '');
  await matchSnapshot('help.txt', r.stdout);
});

test('halctl help - sessions --help matches the snapshot', async () => {
  const r = await halctl(['sessions', '--help']);
  assert.equal(r.code, 0);
  await matchSnapshot('help-sessions.txt', r.stdout);
});

test('halctl usage - unknown verbs, missing arguments and bad flags exit 2 with one line', async () => {
  const cases: Array<[string[], string]> = [
    [
      [],
      'halctl: USAGE: name a resource (nodes, sessions, events, audit, policies, …) or status / resume <project> (see --help)\n',
    ],
    [['sessions', 'bogus'], 'halctl: USAGE: Unknown argument: bogus (see --help)\n'],
    [
      ['sessions', 'kill'],
      'halctl: USAGE: Not enough non-option arguments: got 0, need at least 1 (see --help)\n',
    ],
    [['sessions', 'start'], 'halctl: USAGE: Missing required argument: project (see --help)\n'],
    [['nodes', 'list', '--status', 'sleepy'], 'halctl: USAGE: Invalid values:\n'],
  ];
  for (const [args, line] of cases) {
    const r = await halctl(args);
    assert.equal(r.code, 2, args.join(' '));
    assert.equal(r.stdout, '');
    if (line.endsWith(':\n')) assert.ok(r.stderr.startsWith(line.slice(0, -1)), r.stderr);
    else assert.equal(r.stderr, line);
  }
});

test('halctl completion - prints a shell completion script', async () => {
  const r = await halctl(['completion']);
  assert.equal(r.code, 0);
  assert.match(r.stdout, /halctl/);
  assert.match(r.stdout, /complete/);
});
