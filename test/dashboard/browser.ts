import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Browser } from 'playwright-core';

/** Debian's Chromium (`apt-get install chromium`; .ci/run installs it). */
export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

/**
 * Flags for Chromium as root on a machine with a closed network: no sandbox (root), and none of
 * the background connections (updates, sync, QUIC probes) that would be refused at every start.
 */
const FLAGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/** Why the browser tests cannot run here, or undefined when they can. */
export function whyNoBrowser(): string | undefined {
  if (!existsSync(CHROMIUM)) {
    return `${CHROMIUM} is missing (apt-get install -y chromium, as .ci/run does; or set CHROMIUM_PATH)`;
  }
  return undefined;
}

/** Launches Chromium for a suite's `before` hook, or skips the suite saying why it cannot. */
export async function launchOrSkip(context: Mocha.Context): Promise<Browser> {
  const why = whyNoBrowser();
  if (why !== undefined) {
    console.log(`      skipped: the dashboard browser tests need Chromium: ${why}`);
    context.skip();
  }
  return launchChromium();
}

/** Headless Chromium driven by playwright-core (which downloads no browser of its own). */
export async function launchChromium(): Promise<Browser> {
  const { chromium } = await import('playwright-core');
  return chromium.launch({ executablePath: CHROMIUM, headless: true, args: FLAGS });
}

const REPO = fileURLToPath(new URL('../../../', import.meta.url));
/**
 * Where the mid-run screenshot goes: `npm run screenshot` sets BATON_SCREENSHOT=docs/dashboard.png
 * (the README's picture); a plain test run writes it to the temporary folder, so that `npm test`
 * leaves the work tree as it found it.
 */
export const screenshotPath = (dir: string, view = ''): string => {
  const path = process.env.BATON_SCREENSHOT;
  const name = path === undefined ? join(dir, 'dashboard.png') : join(REPO, path);
  return view === '' ? name : name.replace(/\.png$/, `-${view}.png`);
};
