import { existsSync } from 'node:fs';
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

/** Headless Chromium driven by playwright-core (which downloads no browser of its own). */
export async function launchChromium(): Promise<Browser> {
  const { chromium } = await import('playwright-core');
  return chromium.launch({ executablePath: CHROMIUM, headless: true, args: FLAGS });
}
