/// <reference lib="dom" />
import assert from "node:assert/strict";
import type { Browser, Page } from "playwright-core";
import { closeDashboard, launchChromium, requireChromium, screenshot, signIn } from "../support/browser.js";
import { clearFirestore, requireEmulators, signInDetails } from "../support/emulators.js";
import { loadTestConfig } from "../support/engine.js";

const hostingUrl = () => process.env.ORCH_HOSTING_URL ?? "";

describe("the dashboard's 'Plan from goals' page in headless Chromium", function () {
  this.timeout(180_000);
  let browser: Browser;
  let page: Page;
  const pageErrors: string[] = [];

  before(async function () {
    requireEmulators(this);
    const executable = requireChromium(this);
    await clearFirestore();
    await loadTestConfig();
    browser = await launchChromium(executable);
    page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
    page.on("pageerror", (error) => pageErrors.push(error.message));
    await signIn(page, hostingUrl(), await signInDetails("operator"));
    await page.waitForSelector("[data-testid=who][data-role=operator]");
  });

  after(async () => {
    if (page) await closeDashboard(page);
    await browser?.close();
    assert.deepEqual(pageErrors, [], "the page threw");
  });

  it("plans the form's EU, GDPR goals: cost breakdown, availability, risks", async () => {
    await page.evaluate(() => (location.hash = "#/architecture"));
    await page.waitForSelector("[data-testid=architecture-plan]");
    await page.click("[data-testid=architecture-plan]");
    const total = await page.waitForSelector("[data-testid=arch-total]", { timeout: 60_000 });
    const amount = Number(/Total \$([0-9.]+)/.exec((await total.textContent()) ?? "")?.[1]);
    assert.ok(amount > 0 && amount <= 150, `total ${amount} within the form's budget of 150`);
    assert.match((await page.textContent("[data-testid=arch-availability]")) ?? "", /against 0\.998/);
    await page.waitForSelector("[data-testid=arch-cost-chart] svg");
    const risks = await page.$$("[data-testid=arch-risks] tbody tr");
    assert.equal(risks.length, 9, "every risk of the register is scored");
    const prod = await page.$$eval("[data-testid=arch-env-prod] tbody tr td:first-child", (cells) =>
      cells.map((c) => c.textContent),
    );
    assert.ok(prod.includes("firestore") && prod.includes("backup"), JSON.stringify(prod));
    await screenshot(page, "architecture-plan");
  });

  it("shows the conflicts and their relaxations when the budget is too small", async () => {
    await page.fill("[data-testid=constraint-budget]", "5");
    await page.click("[data-testid=architecture-plan]");
    await page.waitForSelector("[data-testid=arch-relaxations]", { timeout: 60_000 });
    const fields = await page.$$eval("[data-testid=arch-conflicts] tbody tr td:nth-child(2)", (cells) =>
      cells.map((c) => c.textContent),
    );
    assert.deepEqual(fields, ["constraints.monthly_budget_usd"]);
    const relaxed = await page.textContent("[data-testid=arch-relaxations] tbody tr");
    assert.match(relaxed ?? "", /constraints\.monthly_budget_usd.*\$[0-9]+\.[0-9]{2}/);
  });
});
