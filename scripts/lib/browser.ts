/** Headless Chromium (Debian's, driven by playwright-core) on the dashboard: shared by the tests and the demo. */
import { mkdirSync } from "node:fs";
import path from "node:path";
import { chromium, type Browser, type Page } from "playwright-core";
import { CHROMIUM_ARGS } from "./chromium.js";

/** What the dashboard page exposes of itself (dashboard/src/main.ts). */
declare global {
  interface Window {
    orchestrator: {
      latencies: { task: string; status: string; ms: number }[];
      ready: boolean;
      disconnect?: () => Promise<void>;
    };
  }
}

export function launchChromium(executablePath: string): Promise<Browser> {
  return chromium.launch({ executablePath, headless: true, args: CHROMIUM_ARGS });
}

/** Opens the dashboard and signs in through its form, as a person would. */
export async function signIn(
  page: Page,
  hostingUrl: string,
  who: { email: string; password: string },
): Promise<void> {
  await page.goto(hostingUrl);
  await page.fill("input[name=email]", who.email);
  await page.fill("input[name=password]", who.password);
  await page.click("form.sign-in button[type=submit]");
  await page.waitForSelector("[data-testid=who]");
}

/** A full-page PNG of the page, written into `directory`; answers the file's path. */
export async function screenshot(page: Page, directory: string, name: string): Promise<string> {
  mkdirSync(directory, { recursive: true });
  const file = path.join(directory, `${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
  return file;
}

/**
 * Closes a dashboard page as a person leaving it would, its listeners and Firestore connection
 * ended first: a page closed without it leaves its listeners on the Firestore emulator, which then
 * slows every later write (see dashboard/src/main.ts).
 */
export async function closeDashboard(page: Page): Promise<void> {
  await page.evaluate(() => window.orchestrator.disconnect?.()).catch(() => undefined);
  await page.close().catch(() => undefined);
}
