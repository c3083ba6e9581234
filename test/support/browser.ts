import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { chromium, type BrowserContext } from 'playwright-core';

/** Debian's chromium (`apt-get install chromium`; `.ci/run` installs it when missing). */
export const CHROMIUM = '/usr/bin/chromium';

/**
 * True when the browser the end-to-end tests drive is installed. On CI (`CI=true`, set by
 * `.ci/run`, which installs it) a missing browser is an error, not a reason to skip the dashboard
 * tests — as a missing PostgreSQL is (global-setup.ts).
 */
export const hasChromium = existsSync(CHROMIUM);
if (!hasChromium && process.env.CI === 'true')
  throw new Error(
    `CI=true but ${CHROMIUM} is missing: install Debian's chromium (.ci/run does) to run the dashboard tests`,
  );

/** Where tests save screenshots (gitignored). */
export const ARTIFACTS = resolve('test-artifacts');

/** A headless chromium with a fresh profile, closed (and its profile removed) by `close`. */
export interface TestBrowser {
  readonly context: BrowserContext;
  close(): Promise<void>;
}

/**
 * Starts headless chromium with a fresh user-data-dir and nothing that reaches the network by
 * itself (no background networking, component updates or sync): tests talk only to loopback.
 */
export async function startBrowser(): Promise<TestBrowser> {
  const profile = mkdtempSync(join(tmpdir(), 'snowline-chromium-'));
  mkdirSync(ARTIFACTS, { recursive: true });
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
    viewport: { width: 1280, height: 900 },
  });
  return {
    context,
    async close() {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}
