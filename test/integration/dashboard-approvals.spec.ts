/// <reference lib="dom" />
/**
 * The dashboard's approve and reject buttons, in headless Chromium against the emulators: a
 * production deployment awaiting approval shows who asked and until when; a viewer and the
 * requester see the buttons disabled with the reason; another operator approves it and watches
 * it run; an admin rejects another with a reason and it ends cancelled.
 */
import assert from "node:assert/strict";
import type { Browser, Page } from "playwright-core";
import { closeDashboard, launchChromium, requireChromium, screenshot, signIn } from "../support/browser.js";
import { clearFirestore, requireEmulators, signInDetails } from "../support/emulators.js";
import {
  engineStore,
  loadConfigRequiringApproval,
  prodAwaitingApproval,
  settled,
} from "../support/engine.js";

const hostingUrl = () => process.env.ORCH_HOSTING_URL ?? "";

describe("the dashboard's approve and reject buttons (headless Chromium)", function () {
  this.timeout(240_000);
  let browser: Browser;
  const pages: Page[] = [];
  const pageErrors: string[] = [];

  async function signedInPage(role: "viewer" | "operator" | "admin"): Promise<Page> {
    const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
    pages.push(page);
    page.on("pageerror", (error) => pageErrors.push(`${role}: ${error.message}`));
    await signIn(page, hostingUrl(), await signInDetails(role));
    await page.waitForSelector(`[data-testid=who][data-role=${role}]`);
    await page.waitForFunction(() => window.orchestrator.ready);
    return page;
  }

  /** A prod deployment requested by `as`, once the engine has parked it for approval. */
  const awaiting = async (as: "admin" | "operator") => (await prodAwaitingApproval(as)).id;

  const open = async (page: Page, id: string) => {
    await page.evaluate((deployment) => (location.hash = `#/deployments/${deployment}`), id);
    await page.waitForSelector(`#detail[data-deployment="${id}"] [data-testid=approval]`);
  };

  before(async function () {
    requireEmulators(this);
    const executable = requireChromium(this);
    await clearFirestore();
    await loadConfigRequiringApproval();
    browser = await launchChromium(executable);
  });
  afterEach(() => assert.deepEqual(pageErrors.splice(0), [], "the page threw"));
  after(async () => {
    for (const page of pages) await closeDashboard(page);
    await browser?.close();
  });

  it("a viewer and the requester see the buttons disabled with the reason; another person approves", async () => {
    const id = await awaiting("admin");
    const viewer = await signedInPage("viewer");
    await open(viewer, id);
    assert.equal(await viewer.getAttribute("[data-testid=approve]", "disabled"), "");
    assert.match(
      (await viewer.textContent("[data-testid=approval-reason]")) ?? "",
      /Approving needs the operator or admin role; you are signed in as viewer/,
    );
    const requester = await signedInPage("admin");
    await open(requester, id);
    assert.equal(await requester.getAttribute("[data-testid=approve]", "disabled"), "");
    assert.match(
      (await requester.textContent("[data-testid=approval-reason]")) ?? "",
      /You requested this deployment: a second person must approve or reject it/,
    );
    const admin = (await signInDetails("admin")).email;
    assert.match(
      (await requester.textContent("[data-testid=approval]")) ?? "",
      new RegExp(`requested by user:${admin}`),
    );

    const operator = await signedInPage("operator");
    await open(operator, id);
    await screenshot(operator, "approval-awaiting");
    await operator.click("[data-testid=approve]");
    await operator.waitForSelector(`#detail[data-deployment="${id}"][data-status=succeeded]`, {
      timeout: 120_000,
    });
    const { deployment } = await settled(id);
    assert.equal(deployment.approval?.decision, "approved");
    assert.equal(deployment.approval?.decided_by, `user:${(await signInDetails("operator")).email}`);
  });

  it("rejecting needs a reason, then ends the deployment cancelled with it", async () => {
    const id = await awaiting("operator");
    const admin = await signedInPage("admin");
    await open(admin, id);
    await admin.click("[data-testid=reject]");
    await admin.waitForSelector("[data-testid=approval-message]:has-text('Say why it is rejected first.')");
    assert.equal((await engineStore().getDeployment(id))?.status, "awaiting_approval", "nothing was sent");
    await admin.fill("[data-testid=reject-reason]", "freeze week");
    await admin.click("[data-testid=reject]");
    await admin.waitForSelector(`#detail[data-deployment="${id}"][data-status=cancelled]`, {
      timeout: 60_000,
    });
    const { deployment } = await settled(id);
    assert.equal(deployment.approval?.decision, "rejected");
    assert.equal(deployment.approval?.note, "freeze week");
  });
});
