/** What the demo and `npm test` print: the demo's story, its log, and the test steps' summary lines. */
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { consoleToDetails, createStory, timingLines } from "../../scripts/lib/story.js";
import { coverageLine, formatSeconds, stepLine, underCi } from "../../scripts/lib/test-summary.js";

const scratch = () => mkdtempSync(path.join(tmpdir(), "orch-story-"));

describe("the demo's story", () => {
  it("numbers the steps itself, drops numbers written in titles, and keeps details out of the terminal", () => {
    const logFile = path.join(scratch(), "demo.log");
    let clock = 1000;
    let terminal = "";
    const story = createStory({ write: (text) => (terminal += text), logFile, now: () => clock });
    story.step("1. Load the config");
    story.say("POST /config -> 200");
    story.detail("the whole response body");
    clock += 2500;
    story.step("10b. Scheduled jobs");
    clock += 400;
    assert.equal(terminal, "\n1. Load the config\n   POST /config -> 200\n\n2. Scheduled jobs\n");
    assert.equal(readFileSync(logFile, "utf8"), "   | the whole response body\n");
    assert.deepEqual(story.timings(), [
      { number: 1, title: "Load the config", ms: 2500 },
      { number: 2, title: "Scheduled jobs", ms: 400 },
    ]);
  });

  it("shows details live when verbose, and on the terminal when there is no log file", () => {
    let verbose = "";
    createStory({
      write: (text) => (verbose += text),
      logFile: path.join(scratch(), "l"),
      verbose: true,
    }).detail("x");
    let bare = "";
    createStory({ write: (text) => (bare += text) }).detail("y");
    assert.equal(verbose, "   | x\n");
    assert.equal(bare, "   | y\n");
  });

  it("sends console.log of the demo's modules to the log, line by line", () => {
    const logFile = path.join(scratch(), "demo.log");
    let terminal = "";
    const story = createStory({ write: (text) => (terminal += text), logFile });
    const saved = console.log;
    try {
      consoleToDetails(story);
      console.log("a %d\nb", 1);
    } finally {
      console.log = saved;
    }
    assert.equal(terminal, "");
    assert.equal(readFileSync(logFile, "utf8"), "   | a 1\n   | b\n");
  });

  it("wraps the step times, one short name each", () => {
    const timings = [
      { number: 1, title: "Load orchestration.json into the control plane", ms: 11_200 },
      { number: 2, title: "Environments and their integrations", ms: 600 },
      { number: 3, title: "Access control: a viewer may read", ms: 450 },
    ];
    assert.deepEqual(timingLines(timings, 40), ["1 load 11.2 s · 2 environments 0.6 s", "3 access 0.5 s"]);
  });
});

describe("npm test's summary lines", () => {
  it("formats seconds and step lines", () => {
    assert.equal(formatSeconds(3.14), "3.1 s");
    assert.equal(formatSeconds(245), "4 min 05 s");
    assert.equal(
      stepLine({ ok: true, title: "lint", seconds: 3.1 }),
      `✓ lint${" ".repeat(21)}${" ".repeat(5)}3.1 s`,
    );
    assert.match(
      stepLine({ ok: false, title: "unit tests", seconds: 95, detail: "3 failed" }),
      /^✗ unit tests .* 3 failed$/,
    );
  });

  it("reads coverage from c8's json summary, and says nothing without one", () => {
    const dir = scratch();
    const file = path.join(dir, "coverage-summary.json");
    writeFileSync(
      file,
      JSON.stringify({ total: { lines: { pct: 69.364 }, branches: { pct: 87.2 }, statements: { pct: 1 } } }),
    );
    assert.equal(coverageLine(file), "lines 69.4%, branches 87.2% of functions/src");
    assert.equal(coverageLine(path.join(dir, "missing.json")), null);
  });

  it("treats CI=true and CI=1 as CI, CI=false, 0 or unset as not", () => {
    const table: [string | undefined, boolean][] = [
      ["true", true],
      ["1", true],
      ["false", false],
      ["0", false],
      [undefined, false],
    ];
    for (const [value, expected] of table)
      assert.equal(underCi(value === undefined ? {} : { CI: value }), expected, String(value));
  });
});
