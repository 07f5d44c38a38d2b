import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { StoredEvent } from '@hal/protocol';
import { waitFor } from '@hal/testkit';
import type { Page } from 'playwright-core';
import { type Browser, launchBrowser, type Problem } from './browser.ts';
import { sessionView, startSession, stateShown, USAGE, unexpected } from './pages.ts';
import { type Stack, startStack, TOKENS } from './stack.ts';

// Issue 15 acceptance, the session flows: a real browser (playwright-core driving Debian's
// chromium) on the dashboard the gateway serves, against the real stack — the hal-supervisor and
// hal-agent bins, a real nats-server, a real opencode on a scripted LLM.
let stack: Stack;
let browser: Browser;
let page: Page;
let demo: string;
const expected = new Set<Problem>();

before(async () => {
  stack = await startStack();
  browser = await launchBrowser();
  page = await browser.page();
});

after(async () => {
  await browser?.close();
  await stack?.stop();
});

test('dashboard - sign in with a token; first load under 200 KB gzipped; the demo session appears live', async () => {
  const transferred = new Map<string, number>();
  page.on('requestfinished', async (req) => {
    const url = new URL(req.url());
    if (url.pathname === '/' || url.pathname.startsWith('/assets/')) {
      const sizes = await req.sizes();
      transferred.set(url.pathname, sizes.responseBodySize + sizes.responseHeadersSize);
    }
  });
  await page.goto(stack.apiUrl);
  await page.getByTestId('sign-in').waitFor();
  await browser.screenshot(page, '00-sign-in');

  // A wrong token is refused with the API's own words, and nothing is stored.
  await page.getByTestId('token').fill('not-a-token-0123456789');
  await page.getByTestId('sign-in-submit').click();
  await page.getByText('UNAUTHORIZED: invalid bearer token').waitFor();
  assert.equal(await page.evaluate(() => sessionStorage.length), 0);
  // The browser logs the refused request itself; that one was asked for.
  for (const p of browser.problems) if (/status of 401/.test(p.text)) expected.add(p);

  await page.getByTestId('token').fill(TOKENS.operator);
  await page.getByTestId('sign-in-submit').click();
  await page.getByTestId('principal').waitFor();
  assert.equal(await page.getByTestId('principal').textContent(), 'olga · operator');
  await page.locator('[data-testid="stream-status"][data-status="live"]').waitFor();
  // The token lives in this tab's session storage only: not in the URL, not in the page.
  assert.ok(!page.url().includes(TOKENS.operator));
  assert.ok(!(await page.content()).includes(TOKENS.operator));
  assert.deepEqual(await page.evaluate(() => Object.keys(sessionStorage)), ['hal.dashboard.token']);
  const node = page.locator('[data-testid="nodes"] [data-node="demo-node"]');
  await node.getByText('online').waitFor();
  await node.getByText('up', { exact: true }).waitFor();

  const total = [...transferred.values()].reduce((a, b) => a + b, 0);
  assert.ok(
    transferred.has('/') && [...transferred.keys()].some((k) => k.endsWith('.js')),
    [...transferred.keys()].join(),
  );
  assert.ok(total < 200 * 1024, `first load transferred ${total} bytes`);
  process.stdout.write(`# dashboard first load: ${(total / 1024).toFixed(1)} KiB over the wire (gzip)\n`);

  // The demo session, started as `npm start` starts it, shows up without a reload.
  await page.goto(`${stack.apiUrl}/#/sessions`);
  await page.getByTestId('session-list').waitFor();
  demo = await startSession(
    stack,
    'HAL-O-SWARM demo',
    'Say hello to the newcomer and explain what they are looking at.',
    'Hello newcomer! This is the HAL-O-SWARM dashboard.',
  );
  await page.locator(`[data-testid="session-list"] [data-session="${demo}"]`).waitFor({ timeout: 20_000 });
  await page.locator(`[data-testid="session-list"] [data-session="${demo}"][data-state="idle"]`).waitFor({
    timeout: 90_000,
  });
  await browser.screenshot(page, '02-sessions');
});

test('dashboard - inject a prompt from the session page and see the reply arrive in its log', async () => {
  await page.goto(`${stack.apiUrl}/#/session/${encodeURIComponent(demo)}`);
  await page.getByTestId('session-detail').waitFor();
  await page.getByTestId('log').getByText('Hello newcomer!').waitFor({ timeout: 30_000 });
  stack.llm.script({ text: 'The answer to the injected question is 42.', usage: USAGE });
  await page.getByTestId('inject-prompt').fill('What is the answer?');
  await page.locator('[data-action="inject"]').click();
  await page.getByTestId('message').getByText('inject: done').waitFor();
  await page.getByTestId('log').getByText('What is the answer?').waitFor({ timeout: 30_000 });
  await page
    .getByTestId('log')
    .getByText('The answer to the injected question is 42.')
    .waitFor({ timeout: 60_000 });
  await stateShown(page, 'idle', 60_000);
  await page.getByTestId('cost-trend').waitFor();
  await browser.screenshot(page, '03-session-detail');
});

test('dashboard - a tool call asking permission shows Approve first on the overview; approving lets the session go on', async () => {
  stack.llm.script(
    {
      toolCall: { name: 'bash', arguments: { command: 'echo hi > out.txt', description: 'write a file' } },
      usage: USAGE,
    },
    { text: 'Wrote the file.', usage: USAGE },
  );
  await page.getByTestId('inject-prompt').fill('write out.txt');
  await page.locator('[data-action="inject"]').click();
  await stateShown(page, 'waiting_input', 60_000);
  await page.getByTestId('permissions').getByText('echo hi > out.txt').waitFor({ timeout: 30_000 });

  // The overview leads with who is waiting, for how long, and what they ask.
  await page.goto(`${stack.apiUrl}/#/`);
  const waiting = page.locator(`[data-testid="waiting"] [data-session="${demo}"]`);
  await waiting.waitFor();
  assert.match((await waiting.locator('.wait').textContent()) ?? '', /^waiting \d+s$/);
  await waiting.getByText('echo hi > out.txt').waitFor();
  const first = await page.evaluate(() =>
    document.querySelector('main section')?.getAttribute('data-testid'),
  );
  assert.equal(first, 'waiting');
  await browser.screenshot(page, '01-overview-waiting');

  await waiting.locator('[data-action="approve"]').click();
  await page.getByTestId('message').getByText('Permission approved').waitFor();
  await waiting.waitFor({ state: 'detached', timeout: 30_000 });
  await page.goto(`${stack.apiUrl}/#/session/${encodeURIComponent(demo)}`);
  await page.getByTestId('log').getByText('Wrote the file.').waitFor({ timeout: 60_000 });
  await page.getByTestId('log').locator('.tool-completed').first().waitFor();
  await stateShown(page, 'idle', 60_000);
  const replied = await stack.api<{ data: StoredEvent[] }>(
    `/api/v1/sessions/${encodeURIComponent(demo)}/events?type=permission.replied`,
  );
  assert.equal(replied.body.data.at(-1)?.data.response, 'once');
});

test('dashboard - kill a busy session and see its state change; no console error, no CSP violation', async () => {
  await waitFor(async () => (await sessionView(stack, demo)).state === 'idle', { timeoutMs: 60_000 });
  stack.llm.script({ text: 'This takes a while.', delayMs: 20_000 });
  await page.getByTestId('inject-prompt').fill('take your time');
  await page.locator('[data-action="inject"]').click();
  await stateShown(page, 'running', 30_000);
  await page.locator('[data-action="kill"]').click();
  await page.locator('[data-action="kill-confirm"]').click();
  await page.getByTestId('message').getByText('kill: done').waitFor();
  await stateShown(page, 'killed', 30_000);
  assert.equal((await sessionView(stack, demo)).state, 'killed');
  assert.deepEqual(unexpected(browser, expected), [], 'console errors, page errors or CSP violations');
});
