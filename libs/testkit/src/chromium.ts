// Debian's chromium driven by playwright-core: headless, no sandbox (root in CI), nothing that
// phones home, a fresh profile per launch. Every console error, page error and CSP violation of
// every page is recorded, so a test can assert there were none.
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BrowserContext, Page } from 'playwright-core';

export const CHROMIUM_PATH = '/usr/bin/chromium';

const ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

// Runs before any script of the page (through CDP, so the page's own CSP does not apply to it).
const REPORT_CSP = `document.addEventListener('securitypolicyviolation', (e) => {
  console.error('CSP violation: ' + e.violatedDirective + ' blocked ' + e.blockedURI);
});`;

export interface BrowserProblem {
  kind: 'console' | 'pageerror' | 'csp';
  text: string;
}

export interface Chromium {
  context: BrowserContext;
  /** A new tab; its console errors, page errors and CSP violations go to `problems`. */
  page(): Promise<Page>;
  readonly problems: BrowserProblem[];
  /** Saves a full-page PNG as `<dir>/<name>.png` and returns its path. */
  screenshot(page: Page, name: string): Promise<string>;
  close(): Promise<void>;
}

export async function launchChromium(opts: { screenshots?: string } = {}): Promise<Chromium> {
  if (!existsSync(CHROMIUM_PATH)) {
    throw new Error(
      `${CHROMIUM_PATH} is missing: browser tests drive Debian's chromium (node scripts/setup.mjs --browser installs it as root; else: sudo apt-get install -y chromium)`,
    );
  }
  const profile = mkdtempSync(join(tmpdir(), 'hal-chromium-'));
  // Loaded here, not with the testkit: importing playwright-core costs ~0.7 s of CPU, and nearly
  // every test file imports the testkit while four drive a browser.
  const { chromium } = await import('playwright-core');
  // launchPersistentContext is how Playwright takes a --user-data-dir: a fresh one per launch.
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM_PATH,
    headless: true,
    args: ARGS,
    viewport: { width: 1400, height: 900 },
  });
  await context.addInitScript({ content: REPORT_CSP });
  const problems: BrowserProblem[] = [];
  const watch = (page: Page): void => {
    page.on('console', (msg) => {
      if (msg.type() !== 'error') return;
      problems.push({ kind: msg.text().startsWith('CSP violation') ? 'csp' : 'console', text: msg.text() });
    });
    page.on('pageerror', (err) => problems.push({ kind: 'pageerror', text: err.message }));
  };
  for (const p of context.pages()) watch(p);
  context.on('page', watch);
  const shots = opts.screenshots ?? join(tmpdir(), 'hal-screenshots');
  return {
    context,
    problems,
    page: () => context.newPage(),
    async screenshot(page, name) {
      mkdirSync(shots, { recursive: true });
      const path = join(shots, `${name}.png`);
      await page.screenshot({ path, fullPage: true });
      return path;
    },
    async close() {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}
