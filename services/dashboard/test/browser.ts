import { fileURLToPath } from 'node:url';
import { type BrowserProblem, type Chromium, launchChromium } from '@hal/testkit';

/** Screenshots of every view, for review (git-ignored). */
export const SCREENSHOTS = fileURLToPath(new URL('./screenshots/', import.meta.url));

export type Browser = Chromium;
export type Problem = BrowserProblem;

export function launchBrowser(): Promise<Browser> {
  return launchChromium({ screenshots: SCREENSHOTS });
}
