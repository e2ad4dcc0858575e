/**
 * `npm test`: type checks, lint, unit tests (with coverage of functions/src), then the integration
 * tests on a fresh emulator stack (stack "test", port offset 10, so a running demo is never
 * disturbed). Each step ends with one summary line; the test runner's own report is shown; the
 * stack's output (build, emulators, functions) goes to .stack/test/stack.log. Under CI (CI=true)
 * a missing emulator, Java or Chromium fails the run with its reason instead of skipping suites.
 */
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { chromiumEnv, ensureChromium } from "./lib/chromium.js";
import { repoRoot, StackSetupError, stackDir } from "./lib/stack.js";
import { coverageLine, formatSeconds, stepLine, underCi } from "./lib/test-summary.js";
import { withStack } from "./with-stack.js";

const bin = (name: string) => path.join(repoRoot, "node_modules", ".bin", name);
const started = Date.now();

/** A runner's counts, as test/support/counting-reporter.cjs writes them to $ORCH_TEST_STATS. */
interface Counts {
  passes: number;
  failures: number;
  pending: number;
}
const totals: Counts = { passes: 0, failures: 0, pending: 0 };
const failedSteps: string[] = [];
const ci = underCi();

/** A quiet step: its output is shown only when it fails. */
function step(title: string, command: string, args: string[]): void {
  const begun = Date.now();
  const result = spawnSync(command, args, { cwd: repoRoot, encoding: "utf8" });
  const ok = result.status === 0;
  if (!ok) {
    process.stdout.write(result.stdout ?? "");
    process.stderr.write(result.stderr ?? result.error?.message ?? "");
    failedSteps.push(title);
  }
  console.log(stepLine({ ok, title, seconds: (Date.now() - begun) / 1000 }));
}

function statsFile(name: string): string {
  fs.mkdirSync(stackDir, { recursive: true });
  const file = path.join(stackDir, `test-stats-${name}.json`);
  fs.rmSync(file, { force: true });
  return file;
}

/** Adds a runner's counts to the totals and prints its summary line. */
function addStats(title: string, file: string, exitCode: number, begun: number, extra = ""): void {
  let stats: Counts;
  try {
    stats = JSON.parse(fs.readFileSync(file, "utf8")) as Counts;
  } catch {
    failedSteps.push(title);
    console.log(
      stepLine({
        ok: false,
        title,
        seconds: (Date.now() - begun) / 1000,
        detail: "no results: the runner did not finish",
      }),
    );
    return;
  }
  totals.passes += stats.passes;
  totals.failures += stats.failures;
  totals.pending += stats.pending;
  if (exitCode !== 0) failedSteps.push(title);
  const counts = `${stats.passes} passed, ${stats.failures} failed, ${stats.pending} skipped`;
  console.log(
    stepLine({ ok: exitCode === 0, title, seconds: (Date.now() - begun) / 1000, detail: counts + extra }),
  );
}

step("type check (functions)", bin("tsc"), ["-p", "functions", "--noEmit"]);
step("type check (tests)", bin("tsc"), ["-p", "test", "--noEmit"]);
step("type check (dashboard)", bin("tsc"), ["-p", "dashboard", "--noEmit"]);
step("lint", bin("eslint"), ["."]);
step("format", bin("prettier"), ["--check", "--log-level", "warn", "."]);

console.log("\n== unit tests, with line and branch coverage of functions/src (c8, gate in .c8rc.json)");
{
  const begun = Date.now();
  const unitStats = statsFile("unit");
  const unit = spawnSync(bin("c8"), [bin("mocha"), "--config", ".mocharc.unit.json"], {
    cwd: repoRoot,
    stdio: "inherit",
    env: { ...process.env, ORCH_TEST_STATS: unitStats },
  });
  const coverage = coverageLine(path.join(stackDir, "coverage", "coverage-summary.json"));
  addStats("unit tests", unitStats, unit.status ?? 1, begun, coverage ? `; coverage ${coverage}` : "");
}

console.log('\n== integration tests (emulator stack "test", dashboard in headless Chromium)');
{
  const begun = Date.now();
  const browser = ensureChromium();
  const logFile = path.join(stackDir, "test", "stack.log");
  if (ci && browser.path === undefined) {
    failedSteps.push("integration tests");
    console.log(
      stepLine({
        ok: false,
        title: "integration tests",
        seconds: 0,
        detail: `not run under CI: ${browser.reason}`,
      }),
    );
  } else {
    const integrationStats = statsFile("integration");
    try {
      const code = await withStack({
        name: "test",
        offset: 10,
        command: bin("mocha"),
        args: ["--config", ".mocharc.integration.json"],
        logFile,
        say: (line) => console.log(line),
        env: { ORCH_TEST_STATS: integrationStats, ...chromiumEnv(browser) },
      });
      addStats("integration tests", integrationStats, code, begun);
      if (code !== 0)
        console.log(`   emulator and function logs of this run: ${path.relative(repoRoot, logFile)}`);
    } catch (err) {
      if (!(err instanceof StackSetupError)) throw err;
      failedSteps.push("integration tests");
      console.log(
        stepLine({
          ok: false,
          title: "integration tests",
          seconds: (Date.now() - begun) / 1000,
          detail: err.message,
        }),
      );
    }
  }
}

console.log(
  `\n${failedSteps.length > 0 ? `failed steps: ${failedSteps.join(", ")}` : "all steps passed"} in ${formatSeconds((Date.now() - started) / 1000)}`,
);
console.log(`tests: ${totals.passes} passed, ${totals.failures} failed, ${totals.pending} skipped`);
process.exit(failedSteps.length > 0 ? 1 : 0);
