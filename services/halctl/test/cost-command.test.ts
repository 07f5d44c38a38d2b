import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, test } from 'node:test';
import type { CostReport } from '@hal/protocol';
import { renderDayBars } from '../src/commands/cost.ts';
import { halctl } from './halctl-run.ts';

// A real HTTP server speaking the API's envelope for /api/v1/cost, as the other halctl tests do
// (halctl never imports the gateway).
const TOKEN = 'viewer-token-cost-0123456789';
const tok = (input: number, output: number) => ({
  input,
  output,
  reasoning: 0,
  cache_read: 0,
  cache_write: 0,
});
const WEEK = [
  '2026-11-14',
  '2026-11-15',
  '2026-11-16',
  '2026-11-17',
  '2026-11-18',
  '2026-11-19',
  '2026-11-20',
];

function report(period: CostReport['period'], by: string): CostReport {
  const week = period !== 'today';
  return {
    period,
    from: week ? '2026-11-14' : '2026-11-20',
    to: '2026-11-20',
    group_by: [by as 'project'],
    totals: {
      observed_usd: week ? 4.0135 : 0.2635,
      estimated_usd: 0.0135,
      billed_usd: 0,
      tokens: tok(3010, 310),
      messages: 3,
    },
    rows: [
      {
        key: { [by]: 'beta' },
        observed_usd: 0.25,
        estimated_usd: 0,
        billed_usd: null,
        tokens: tok(10, 10),
        messages: 1,
      },
      {
        key: { [by]: 'alpha' },
        observed_usd: 0.0135,
        estimated_usd: 0.0135,
        billed_usd: null,
        tokens: tok(3000, 300),
        messages: 2,
      },
    ],
    reconciliation: [],
    days: (week ? WEEK : ['2026-11-20']).map((day, i) => ({
      day,
      observed_usd: week ? ([0, 1, 0.5, 0, 0, 2.25, 0.2635][i] ?? 0) : 0.2635,
      billed_usd: 0,
    })),
    providers: [],
  };
}

/** Billing configured: billed figures, a reconciliation and a degraded provider. */
const billedReport = (): CostReport => ({
  ...report('today', 'project'),
  totals: { ...report('today', 'project').totals, billed_usd: 0.3 },
  rows: report('today', 'project').rows.map((r, i) => ({ ...r, billed_usd: i === 0 ? 0.3 : 0 })),
  reconciliation: [
    { provider: 'openai', project: 'beta', billed_usd: 0.3, observed_usd: 0.25, difference_usd: 0.05 },
  ],
  providers: [
    { provider: 'openai', state: 'ok', reason: null, last_success_at: '2026-11-20T14:00:00.000Z' },
    { provider: 'anthropic', state: 'degraded', reason: 'admin key refused (401)', last_success_at: null },
  ],
});

let url = '';
const requests: string[] = [];
let billing = false;
const server = createServer((req, res: ServerResponse) => {
  const u = new URL(req.url ?? '/', 'http://stub');
  requests.push(`${u.pathname}${u.search}`);
  const send = (status: number, body: unknown) => {
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(JSON.stringify(body));
  };
  if (req.headers.authorization !== `Bearer ${TOKEN}`) {
    return send(401, { error: { code: 'UNAUTHORIZED', message: 'invalid bearer token' } });
  }
  if (u.pathname !== '/api/v1/cost') return send(404, { error: { code: 'NOT_FOUND', message: 'no route' } });
  const period = (u.searchParams.get('period') ?? 'today') as CostReport['period'];
  const by = u.searchParams.get('group_by') ?? '';
  if (by === 'node') {
    return send(503, {
      error: { code: 'UNAVAILABLE', message: 'the cost service is not running (no answer on hal.q.cost)' },
    });
  }
  if (by === 'model') return send(200, { data: { period, rows: 'not rows' }, meta: {} });
  send(200, { data: billing ? billedReport() : report(period, by), meta: { request_id: 'r1' } });
});

before(async () => {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
after(
  () =>
    new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
);

const cost = (args: string[], columns = 80) =>
  halctl(['--supervisor-url', url, '--auth-token', TOKEN, 'cost', ...args], { columns });

test('halctl cost today - a table per project with a totals line in USD, estimated spend marked', async () => {
  billing = false;
  const r = await cost(['today']);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stderr, '');
  assert.equal(requests.at(-1), '/api/v1/cost?period=today&group_by=project');
  assert.equal(
    r.stdout,
    [
      'COST today 2026-11-20 by project (USD)',
      '',
      'PROJECT  OBSERVED USD  TOKENS IN/OUT  MSGS',
      'beta            0.25           10/10     1',
      'alpha           0.01*       3000/300     2',
      '',
      'TOTAL  observed $0.26 ($0.01 estimated*), 3 messages',
      '* includes spend estimated from cost.model_rates (opencode reported no cost)',
      '',
    ].join('\n'),
  );
});

test('halctl cost week --by session - rows, totals and one bar per day sized to the terminal', async () => {
  billing = false;
  const r = await cost(['week', '--by', 'session'], 60);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(requests.at(-1), '/api/v1/cost?period=week&group_by=session');
  const lines = r.stdout.trimEnd().split('\n');
  assert.equal(lines[0], 'COST week 2026-11-14..2026-11-20 by session (USD)');
  assert.equal(lines[2], 'SESSION  OBSERVED USD  TOKENS IN/OUT  MSGS');
  assert.ok(lines.includes('TOTAL  observed $4.01 ($0.01 estimated*), 3 messages'), r.stdout);
  const bars = lines.slice(lines.indexOf('DAY         OBSERVED'));
  // 60 columns: 22 for the date and amount, 38 for the largest day's bar.
  assert.deepEqual(bars, [
    'DAY         OBSERVED',
    '2026-11-14      0.00',
    `2026-11-15      1.00  ${'█'.repeat(16)}▉`,
    `2026-11-16      0.50  ${'█'.repeat(8)}▌`,
    '2026-11-17      0.00',
    '2026-11-18      0.00',
    `2026-11-19      2.25  ${'█'.repeat(38)}`,
    `2026-11-20      0.26  ${'█'.repeat(4)}▌`,
  ]);
  for (const line of bars) assert.ok(line.length <= 60, `"${line}" is wider than 60`);

  const wide = await cost(['month'], 120);
  const longest = wide.stdout.split('\n').find((l) => l.startsWith('2026-11-19'));
  assert.equal(longest, `2026-11-19      2.25  ${'█'.repeat(98)}`);
});

test('halctl cost - billed vs observed with the difference, and degraded providers, when billing is configured', async () => {
  billing = true;
  const r = await cost(['today']);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(
    r.stdout,
    [
      'COST today 2026-11-20 by project (USD)',
      '',
      'PROJECT  OBSERVED USD  BILLED USD  DIFF USD  TOKENS IN/OUT  MSGS',
      'beta            0.25         0.30      0.05          10/10     1',
      'alpha           0.01*        0.00     -0.01       3000/300     2',
      '',
      'TOTAL  observed $0.26 ($0.01 estimated*), billed $0.30, difference $0.04, 3 messages',
      '* includes spend estimated from cost.model_rates (opencode reported no cost)',
      'provider anthropic: degraded (admin key refused (401))',
      '',
      'BILLED VS OBSERVED',
      'PROVIDER  PROJECT  BILLED USD  OBSERVED USD  DIFF USD',
      'openai    beta           0.30          0.25      0.05',
      '',
    ].join('\n'),
  );
  billing = false;
});

test('halctl cost --json - prints the raw report', async () => {
  const r = await halctl([
    '--supervisor-url',
    url,
    '--auth-token',
    TOKEN,
    '--json',
    'cost',
    'month',
    '--by',
    'project',
  ]);
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(JSON.parse(r.stdout), report('month', 'project'));
});

test('halctl cost - bad usage exits 2; API failures and a malformed answer exit with one line', async () => {
  const bogus = await cost(['year']);
  assert.deepEqual(bogus, {
    code: 2,
    stdout: '',
    stderr: 'halctl: USAGE: Unknown argument: year (see --help)\n',
  });
  const none = await cost([]);
  assert.deepEqual(none, {
    code: 2,
    stdout: '',
    stderr: 'halctl: USAGE: name a period: today, week or month (see --help)\n',
  });
  const badBy = await cost(['today', '--by', 'colour']);
  assert.equal(badBy.code, 2);
  assert.match(
    badBy.stderr,
    /^halctl: USAGE: Invalid values:\n {2}Argument: by, Given: "colour", Choices: "provider", "model", "project", "node", "session" \(see --help\)\n$/,
  );

  const down = await cost(['today', '--by', 'node']);
  assert.deepEqual(down, {
    code: 1,
    stdout: '',
    stderr: 'halctl: UNAVAILABLE: the cost service is not running (no answer on hal.q.cost)\n',
  });
  const malformed = await cost(['today', '--by', 'model']);
  assert.deepEqual(malformed, {
    code: 1,
    stdout: '',
    stderr:
      'halctl: INTERNAL: unexpected answer from the API: /api/v1/cost: data.from: Invalid input: expected string, received undefined (and 7 more)\n',
  });
  const unauthorized = await halctl(['--supervisor-url', url, '--auth-token', 'nope', 'cost', 'today']);
  assert.deepEqual(unauthorized, {
    code: 3,
    stdout: '',
    stderr: 'halctl: UNAUTHORIZED: invalid bearer token\n',
  });
});

test('halctl cost bars - zero days draw nothing, a tiny day a sliver, never wider than the terminal', () => {
  const days = [
    { day: '2026-11-01', observed_usd: 0, billed_usd: 0 },
    { day: '2026-11-02', observed_usd: 0.001, billed_usd: 0 },
    { day: '2026-11-03', observed_usd: 10, billed_usd: 0 },
  ];
  assert.equal(
    renderDayBars(days, 40),
    [
      'DAY         OBSERVED',
      '2026-11-01      0.00',
      '2026-11-02      0.00  ▏',
      `2026-11-03     10.00  ${'█'.repeat(18)}`,
    ].join('\n'),
  );
  // 100 columns: 78 cells for $100, so $0.30 is 0.234 cells = 2 eighths.
  const small = renderDayBars(
    [
      { ...days[1]!, observed_usd: 0.3 },
      { ...days[2]!, observed_usd: 100 },
    ],
    100,
  );
  assert.match(small, /^2026-11-02 {6}0\.30 {2}▎$/m);
  // Too narrow a terminal still draws a bar of the minimum width rather than none.
  assert.equal(renderDayBars([days[2]!], 10).split('\n')[1], `2026-11-03     10.00  ${'█'.repeat(10)}`);
  assert.equal(renderDayBars([], 80), 'DAY         OBSERVED');
});

test('halctl help - cost --help matches the snapshot', async () => {
  const r = await halctl(['cost', '--help']);
  assert.equal(r.code, 0);
  const file = new URL('./snapshots/help-cost.txt', import.meta.url);
  // Same rule as help.test.ts: UPDATE_SNAPSHOTS=1 rewrites it after a deliberate change.
  if (process.env.UPDATE_SNAPSHOTS === '1') await writeFile(file, r.stdout);
  assert.equal(
    r.stdout,
    await readFile(file, 'utf8'),
    'help-cost.txt differs; run with UPDATE_SNAPSHOTS=1 if intended',
  );
});
