// What the browser tests do with a page, in a person's terms.
import type { SessionView } from '@hal/protocol';
import type { Page } from 'playwright-core';
import type { Browser, Problem } from './browser.ts';
import type { Stack } from './stack.ts';

export const USAGE = { prompt_tokens: 1200, completion_tokens: 80 };

/** Opens the dashboard at `url`, signs in with `token` and waits for the live stream. */
export async function signIn(p: Page, url: string, token: string): Promise<void> {
  await p.goto(url);
  await p.getByTestId('token').fill(token);
  await p.getByTestId('sign-in-submit').click();
  await p.getByTestId('principal').waitFor();
  await p.locator('[data-testid="stream-status"][data-status="live"]').waitFor({ timeout: 15_000 });
}

/** Waits until the open session page's state badge shows `state`. */
export async function stateShown(p: Page, state: string, timeout = 30_000): Promise<void> {
  await p.locator(`[data-testid="session-state"]:text-is("${state}")`).waitFor({ timeout });
}

export async function sessionView(stack: Stack, id: string): Promise<SessionView> {
  const r = await stack.api<{ data: SessionView }>(`/api/v1/sessions/${encodeURIComponent(id)}`);
  return r.body.data;
}

/** Starts a session the way `npm start` starts the demo one (POST /api/v1/sessions). */
export async function startSession(
  stack: Stack,
  title: string,
  prompt: string,
  reply: string,
): Promise<string> {
  stack.llm.script({ text: reply, usage: USAGE });
  const started = await stack.api<{ data: { session: string } }>('/api/v1/sessions', {
    project: 'demo',
    title,
    prompt,
  });
  if (started.status !== 201)
    throw new Error(`start session: ${started.status} ${JSON.stringify(started.body)}`);
  return started.body.data.session;
}

/** Console errors, page errors and CSP violations, less those a test caused on purpose. */
export function unexpected(browser: Browser, expected: ReadonlySet<Problem> = new Set()): Problem[] {
  return browser.problems.filter((p) => !expected.has(p));
}
