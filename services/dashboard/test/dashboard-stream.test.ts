import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { StoredEvent } from '@hal/protocol';
import { type CuttingProxy, startCuttingProxy, waitFor } from '@hal/testkit';
import { type Browser, launchBrowser, type Problem } from './browser.ts';
import { sessionView, signIn, startSession, USAGE, unexpected } from './pages.ts';
import { type Stack, startStack, TOKENS } from './stack.ts';

// Issue 15 acceptance, the live stream: the browser reaches the gateway through a proxy that
// drops every connection on demand; after the cut the page catches up with every event, once.
let stack: Stack;
let browser: Browser;
let proxy: CuttingProxy;
/** What the cut itself makes the browser log (failed or refused requests through the proxy). */
const caused = new Set<Problem>();

before(async () => {
  stack = await startStack();
  browser = await launchBrowser();
  proxy = await startCuttingProxy(stack.apiUrl);
});

after(async () => {
  await browser?.close();
  await proxy?.stop();
  await stack?.stop();
});

test('dashboard - the SSE stream is cut mid-way: "reconnecting" shows, and after it every event is shown once', async () => {
  const id = await startSession(stack, 'cut me', 'before the cut', 'First turn before the cut.');
  const page = await browser.page();
  await signIn(page, proxy.url, TOKENS.operator);
  await page.goto(`${proxy.url}/#/session/${encodeURIComponent(id)}`);
  await page.getByTestId('log').getByText('First turn before the cut.').waitFor({ timeout: 60_000 });
  await waitFor(async () => (await sessionView(stack, id)).state === 'idle', { timeoutMs: 60_000 });

  const problemsBefore = browser.problems.length;
  proxy.cut();
  await page
    .locator('[data-testid="stream-status"][data-status="reconnecting"]')
    .waitFor({ timeout: 15_000 });
  await page.getByTestId('stream-status').getByText('reconnecting…').waitFor();
  await browser.screenshot(page, '08-reconnecting');
  // A whole turn happens while the page is cut off.
  const events = async () =>
    (await stack.api<{ data: StoredEvent[] }>(`/api/v1/sessions/${encodeURIComponent(id)}/events?limit=1000`))
      .body.data;
  const before = (await events()).length;
  stack.llm.script({ text: 'Second turn, during the cut.', usage: USAGE });
  const injected = await stack.api(`/api/v1/sessions/${encodeURIComponent(id)}/inject`, {
    prompt: 'during the cut',
  });
  assert.equal(injected.status, 200);
  await waitFor(
    async () => {
      const v = await sessionView(stack, id);
      return v.state === 'idle' && v.tokens.output >= 2 * USAGE.completion_tokens;
    },
    { timeoutMs: 60_000, message: 'the second turn finished' },
  );
  proxy.restore();
  await page.locator('[data-testid="stream-status"][data-status="live"]').waitFor({ timeout: 30_000 });
  // What the cut itself makes the browser log (failed or refused requests through the proxy).
  for (const p of browser.problems.slice(problemsBefore)) {
    if (/503|net::ERR_|Failed to load resource|Failed to fetch/.test(p.text)) caused.add(p);
  }
  await page.getByTestId('log').getByText('Second turn, during the cut.').waitFor({ timeout: 30_000 });

  // The page reads the stream straight from JetStream and the API's list from the tracker's
  // index, which may lag a moment: compare once both have settled on the same events.
  let last = { want: [] as number[], shown: [] as number[] };
  await waitFor(
    async () => {
      const want = (await events()).map((e) => e.stream_seq);
      const shown = await page
        .getByTestId('events')
        .locator('tr[data-seq]')
        .evaluateAll((rows) => rows.map((r) => Number(r.getAttribute('data-seq'))));
      last = { want, shown };
      return want.length > before && JSON.stringify(want) === JSON.stringify(shown);
    },
    { timeoutMs: 30_000 },
  ).catch(() => {
    assert.deepEqual(last.shown, last.want, 'each event exactly once, in stream order, none missing');
  });
  assert.equal(new Set(last.shown).size, last.shown.length, 'no event shown twice');
  assert.equal(await page.getByTestId('event-count').textContent(), String(last.want.length));
  assert.deepEqual(unexpected(browser, caused), [], 'console errors, page errors or CSP violations');
});

test('dashboard - restart from the session page opens the new session with its hand-off chain', async () => {
  const id = await startSession(stack, 'hand me off', 'start the work', 'Started the work.');
  await waitFor(async () => (await sessionView(stack, id)).state === 'idle', { timeoutMs: 60_000 });
  const page = await browser.page();
  await signIn(page, `${stack.apiUrl}/#/session/${encodeURIComponent(id)}`, TOKENS.operator);
  await page.getByTestId('log').getByText('Started the work.').waitFor({ timeout: 30_000 });
  // The hand-off: the old session answers the update prompt, then the new one continues.
  stack.llm.script(
    { text: 'Progress and current task written.', usage: USAGE },
    { text: 'Picked up where the old session left off.', usage: USAGE },
  );
  await page.locator('[data-action="restart"]').click();
  // The page follows the hand-off to the new session once it exists; it names the old one before it.
  await page.waitForURL(
    (url) => url.hash.startsWith('#/session/') && !url.hash.endsWith(encodeURIComponent(id)),
    { timeout: 90_000 },
  );
  const next = decodeURIComponent(new URL(page.url()).hash.replace('#/session/', ''));
  await page.getByTestId('handoff').getByText(id).waitFor({ timeout: 30_000 });
  assert.equal((await sessionView(stack, next)).previous_session, id);
  assert.equal((await sessionView(stack, id)).next_session, next);
  await page
    .getByTestId('log')
    .getByText('Picked up where the old session left off.')
    .waitFor({ timeout: 60_000 });
  await browser.screenshot(page, '09-handoff');
  assert.deepEqual(unexpected(browser, caused), [], 'console errors, page errors or CSP violations');
  await page.close();
});

test('dashboard - the log follows new lines while the reader is at its end, and keeps their place once they scroll up', async () => {
  const lines = (what: string, n: number) =>
    Array.from({ length: n }, (_, i) => `${what} line ${i + 1}.`).join('\n');
  const id = await startSession(stack, 'long answers', 'write a lot', lines('First answer', 120));
  await waitFor(async () => (await sessionView(stack, id)).state === 'idle', { timeoutMs: 60_000 });
  const page = await browser.page();
  await signIn(page, `${stack.apiUrl}/#/session/${encodeURIComponent(id)}`, TOKENS.operator);
  const log = page.getByTestId('log');
  await log.getByText('First answer line 120.').waitFor({ state: 'attached', timeout: 30_000 });
  const box = log.locator('.log-scroll');
  /** The box's scroll after the next frame has laid out and painted (the hook scrolls before paint). */
  const scroll = () =>
    box.evaluate(
      (b) =>
        new Promise<{ top: number; height: number; full: number }>((resolve) =>
          requestAnimationFrame(() =>
            requestAnimationFrame(() =>
              resolve({ top: b.scrollTop, height: b.clientHeight, full: b.scrollHeight }),
            ),
          ),
        ),
    );
  /** Scrolls the box as a reader does, and waits for its scroll event. */
  const scrollTo = (where: 'start' | 'end') =>
    box.evaluate(
      (b, to) =>
        new Promise<void>((resolve) => {
          const top = to === 'start' ? 0 : b.scrollHeight - b.clientHeight;
          if (Math.abs(b.scrollTop - top) < 1) resolve(); // already there: no scroll event comes
          b.addEventListener('scroll', () => resolve(), { once: true });
          b.scrollTop = top;
        }),
      where,
    );
  const atEnd = (s: { top: number; height: number; full: number }) => s.top + s.height >= s.full - 8;
  const turn = async (prompt: string, reply: string, last: string) => {
    stack.llm.script({ text: reply, usage: USAGE });
    assert.equal(
      (await stack.api(`/api/v1/sessions/${encodeURIComponent(id)}/inject`, { prompt })).status,
      200,
    );
    await log.getByText(last).waitFor({ state: 'attached', timeout: 60_000 });
  };

  const opened = await scroll();
  assert.ok(
    opened.full > opened.height + 200,
    `the log must overflow its box to test anything: ${JSON.stringify(opened)}`,
  );
  assert.ok(atEnd(opened), `opened at its newest line: ${JSON.stringify(opened)}`);

  // Scrolled up to read: new lines arrive below and the reader keeps their place.
  await scrollTo('start');
  await turn('more', lines('Second answer', 40), 'Second answer line 40.');
  const reading = await scroll();
  assert.equal(reading.top, 0, 'the box jumped away from where the reader was');
  assert.ok(reading.full > opened.full, 'the second answer grew the log');

  // Back at the end: it follows again.
  await scrollTo('end');
  await turn('again', lines('Third answer', 40), 'Third answer line 40.');
  const following = await scroll();
  assert.ok(following.full > reading.full, 'the third answer grew the log');
  assert.ok(atEnd(following), `the box stayed behind the newest line: ${JSON.stringify(following)}`);
  assert.deepEqual(unexpected(browser, caused), [], 'console errors, page errors or CSP violations');
  await page.close();
});
