// `npm test`: type checks, lint, unit tests, then the integration tests on a fresh emulator stack
// (stack "test", port offset 10, so a running demo is never disturbed). Ends with one summary line.
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { chromiumEnv, ensureChromium } from "./lib/chromium.mjs";
import { repoRoot, stackDir } from "./lib/stack.mjs";
import { withStack } from "./with-stack.mjs";

const bin = (name) => path.join(repoRoot, "node_modules", ".bin", name);
const started = Date.now();
const totals = { passes: 0, failures: 0, pending: 0 };
const failedSteps = [];

function step(title, command, args) {
  console.log(`\n== ${title}`);
  const result = spawnSync(command, args, { cwd: repoRoot, stdio: "inherit" });
  if (result.status !== 0) failedSteps.push(title);
}

function statsFile(name) {
  fs.mkdirSync(stackDir, { recursive: true });
  const file = path.join(stackDir, `test-stats-${name}.json`);
  fs.rmSync(file, { force: true });
  return file;
}

function addStats(title, file, exitCode) {
  try {
    const stats = JSON.parse(fs.readFileSync(file, "utf8"));
    totals.passes += stats.passes;
    totals.failures += stats.failures;
    totals.pending += stats.pending;
  } catch {
    failedSteps.push(`${title} (no results: the runner did not finish)`);
    return;
  }
  if (exitCode !== 0) failedSteps.push(title);
}

step("type check (functions)", bin("tsc"), ["-p", "functions", "--noEmit"]);
step("type check (tests)", bin("tsc"), ["-p", "test", "--noEmit"]);
step("type check (dashboard)", bin("tsc"), ["-p", "dashboard", "--noEmit"]);
step("lint", bin("eslint"), ["."]);
step("format", bin("prettier"), ["--check", "--log-level", "warn", "."]);

console.log("\n== unit tests");
const unitStats = statsFile("unit");
const unit = spawnSync(bin("mocha"), ["--config", ".mocharc.unit.json"], {
  cwd: repoRoot,
  stdio: "inherit",
  env: { ...process.env, ORCH_TEST_STATS: unitStats },
});
addStats("unit tests", unitStats, unit.status ?? 1);

console.log('\n== integration tests (emulator stack "test", dashboard in headless Chromium)');
const browser = ensureChromium();
const integrationStats = statsFile("integration");
const integrationCode = await withStack({
  name: "test",
  offset: 10,
  command: bin("mocha"),
  args: ["--config", ".mocharc.integration.json"],
  env: {
    ORCH_TEST_STATS: integrationStats,
    ...chromiumEnv(browser),
  },
});
addStats("integration tests", integrationStats, integrationCode);

const seconds = ((Date.now() - started) / 1000).toFixed(0);
console.log(
  `\n${failedSteps.length > 0 ? `failed steps: ${failedSteps.join(", ")}` : "all steps passed"} in ${seconds} s`,
);
console.log(`tests: ${totals.passes} passed, ${totals.failures} failed, ${totals.pending} skipped`);
process.exit(failedSteps.length > 0 ? 1 : 0);
