/** The dashboard tests' browser: a real headless Chromium, skipped with the reason when there is none. */
import { fileURLToPath } from "node:url";
import type { Page } from "playwright-core";
import { screenshot as saveScreenshot } from "../../scripts/lib/browser.js";

export { closeDashboard, launchChromium, signIn } from "../../scripts/lib/browser.js";

/** Where the browser tests save their screenshots: the test output folder. */
export const screenshotDir = fileURLToPath(new URL("../../out/test/browser/", import.meta.url));

/** Skips the suite, printing why, when no Chromium was found (test.ts installs it and sets ORCH_CHROMIUM). */
export function requireChromium(context: Mocha.Context): string {
  const executable = process.env.ORCH_CHROMIUM;
  if (!executable) {
    const missing = process.env.ORCH_CHROMIUM_MISSING ?? "ORCH_CHROMIUM unset; run through npm test";
    console.log(`    skipped: no headless Chromium: ${missing}`);
    context.skip();
  }
  return executable;
}

export function screenshot(page: Page, name: string): Promise<string> {
  return saveScreenshot(page, screenshotDir, name);
}
