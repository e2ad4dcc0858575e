/** A real headless Chromium (Debian's, driven by playwright-core) for the dashboard tests. */
import { mkdirSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { chromium, type Browser, type Page } from "playwright-core";
import { CHROMIUM_ARGS } from "../../scripts/lib/chromium.mjs";

/** Where the browser tests save their screenshots: the test output folder. */
export const screenshotDir = fileURLToPath(new URL("../../out/test/browser/", import.meta.url));

/** Skips the suite, printing why, when no Chromium was found (test.mjs installs it and sets ORCH_CHROMIUM). */
export function requireChromium(context: Mocha.Context): string {
  const executable = process.env.ORCH_CHROMIUM;
  const missing = process.env.ORCH_CHROMIUM_MISSING;
  if (!executable) {
    console.log(
      `    skipped: no headless Chromium: ${missing ?? "ORCH_CHROMIUM unset; run through npm test"}`,
    );
    context.skip();
  }
  return executable;
}

export function launchChromium(executablePath: string): Promise<Browser> {
  return chromium.launch({ executablePath, headless: true, args: CHROMIUM_ARGS });
}

export async function screenshot(page: Page, name: string): Promise<string> {
  mkdirSync(screenshotDir, { recursive: true });
  const file = path.join(screenshotDir, `${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
  return file;
}

/** Opens the dashboard and signs in through its form, as a person would. */
export async function signIn(page: Page, hostingUrl: string, who: { email: string; password: string }) {
  await page.goto(hostingUrl);
  await page.fill("input[name=email]", who.email);
  await page.fill("input[name=password]", who.password);
  await page.click("form.sign-in button[type=submit]");
  await page.waitForSelector("[data-testid=who]");
}
