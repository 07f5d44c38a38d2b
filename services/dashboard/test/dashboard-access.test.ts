import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { waitFor } from '@hal/testkit';
import { type Browser, launchBrowser, SCREENSHOTS } from './browser.ts';
import { sessionView, signIn, startSession, unexpected } from './pages.ts';
import { type Stack, startStack, TOKENS } from './stack.ts';

// Issue 15 acceptance, roles and the read-only views, on the real stack in a real browser.
let stack: Stack;
let browser: Browser;
let session: string;

before(async () => {
  stack = await startStack({
    budgets: [{ name: 'fleet-daily', scope: 'fleet', period: 'day', limit_usd: 1 }],
  });
  browser = await launchBrowser();
  session = await startSession(stack, 'Access check', 'say something', 'Something.');
  await waitFor(async () => (await sessionView(stack, session)).state === 'idle', { timeoutMs: 60_000 });
});

after(async () => {
  await browser?.close();
  await stack?.stop();
  process.stdout.write(`# dashboard screenshots: ${SCREENSHOTS}\n`);
});

test('dashboard - the cost view updates after a turn (observed total, by model, budget with forecast)', async () => {
  const page = await browser.page();
  await signIn(page, `${stack.apiUrl}/#/cost?period=today`, TOKENS.operator);
  const observed = page.getByTestId('cost-observed');
  await observed.waitFor();
  await page.locator('[data-testid="cost-by-model"] [data-key="fake-model"]').waitFor({ timeout: 30_000 });
  await page.locator('[data-testid="cost-by-session"]').getByText(session).waitFor();
  await page.locator('[data-testid="budgets"] [data-budget="fleet-daily"]').waitFor();
  const before = await waitFor(async () => {
    const t = (await observed.textContent()) ?? '';
    return Number(t.replace('$', '')) > 0 ? t : undefined;
  });
  // One more turn through the API; the open page follows on its own.
  stack.llm.script({ text: 'One more turn.', usage: { prompt_tokens: 50_000, completion_tokens: 2_000 } });
  const r = await stack.api(`/api/v1/sessions/${encodeURIComponent(session)}/inject`, {
    prompt: 'spend a little',
  });
  assert.equal(r.status, 200, JSON.stringify(r.body));
  await waitFor(async () => (await observed.textContent()) !== before, {
    timeoutMs: 60_000,
    message: `cost view still shows ${before}`,
  });
  assert.ok(
    Number(((await observed.textContent()) ?? '').replace('$', '')) > Number(before.replace('$', '')),
  );
  await page.getByTestId('cost-by-day').waitFor();
  await browser.screenshot(page, '04-cost');
  await page.close();
});

test('dashboard - a viewer sees no action buttons, and a forged action with the viewer token is refused', async () => {
  const viewer = await browser.page();
  await signIn(viewer, stack.apiUrl, TOKENS.viewer);
  assert.equal(await viewer.getByTestId('principal').textContent(), 'vic · viewer');
  await viewer.goto(`${stack.apiUrl}/#/session/${encodeURIComponent(session)}`);
  await viewer.getByTestId('session-detail').waitFor();
  await viewer.getByTestId('events').locator('tr[data-seq]').first().waitFor();
  assert.equal(await viewer.locator('[data-action]').count(), 0);
  assert.equal(await viewer.getByTestId('actions').count(), 0);
  await viewer.goto(`${stack.apiUrl}/#/policies`);
  await viewer.locator('[data-policy]').first().waitFor();
  assert.equal(await viewer.locator('button[data-action]').count(), 0);

  const before = (await sessionView(stack, session)).state;
  const forged = await stack.api<{ error: { code: string; message: string } }>(
    `/api/v1/sessions/${encodeURIComponent(session)}/kill`,
    {},
    TOKENS.viewer,
  );
  assert.equal(forged.status, 403);
  assert.equal(forged.body.error.code, 'FORBIDDEN');
  assert.match(forged.body.error.message, /needs the operator role; token "vic" is viewer/);
  const approve = await stack.api<{ error: { code: string } }>(
    `/api/v1/sessions/${encodeURIComponent(session)}/permissions/per_x`,
    { response: 'once' },
    TOKENS.viewer,
  );
  assert.equal(approve.status, 403);
  assert.equal(approve.body.error.code, 'FORBIDDEN');
  assert.equal((await sessionView(stack, session)).state, before);
  await viewer.close();
});

test('dashboard - every view renders for an admin; screenshots saved; no console error and no CSP violation', async () => {
  const page = await browser.page();
  await signIn(page, stack.apiUrl, TOKENS.admin);
  await page.getByTestId('states').locator('[data-state="idle"] b:text-is("1")').waitFor({ timeout: 15_000 });
  await page.getByTestId('feed').waitFor();
  await browser.screenshot(page, '01-overview');
  await page.goto(`${stack.apiUrl}/#/sessions?state=idle`);
  await page.locator(`[data-testid="session-list"] [data-session="${session}"]`).waitFor();
  await page.goto(`${stack.apiUrl}/#/sessions?q=nothing-matches-this`);
  await page.getByText('No session matches.').waitFor();
  await page.goto(`${stack.apiUrl}/#/session/${encodeURIComponent(session)}`);
  await page.getByTestId('cost-trend').waitFor();
  await browser.screenshot(page, '03-session-admin');

  // Admins change policies: dry run on, and the page shows it.
  await page.goto(`${stack.apiUrl}/#/policies`);
  const policy = page.locator('[data-policy="resume_on_idle"]');
  await policy.waitFor();
  await policy.locator('[data-action="dry-run"]').click();
  await policy.getByText('dry run', { exact: true }).waitFor();
  await browser.screenshot(page, '05-policies');

  await page.goto(`${stack.apiUrl}/#/audit`);
  await page.getByTestId('audit').locator('tr[data-action="session.inject"]').first().waitFor();
  await page.getByTestId('audit').locator('tr[data-action="policy.dry_run"]').first().waitFor();
  await browser.screenshot(page, '06-audit');
  await page.goto(`${stack.apiUrl}/#/audit?action=policy.dry_run`);
  await waitFor(async () => {
    const actions = await page
      .getByTestId('audit')
      .locator('tbody tr')
      .evaluateAll((rows) => rows.map((r) => r.getAttribute('data-action')));
    return actions.length > 0 && actions.every((a) => a === 'policy.dry_run');
  });
  assert.deepEqual(unexpected(browser), [], 'console errors, page errors or CSP violations');
});
