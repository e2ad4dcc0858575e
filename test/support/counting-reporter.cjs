// Mocha's spec reporter, plus the run's counts written to $ORCH_TEST_STATS for scripts/test.ts to sum up,
// and, when tests failed on a stack whose output went to a log ($ORCH_STACK_LOG), where that log is.
"use strict";
const fs = require("node:fs");
const Spec = require("mocha/lib/reporters/spec");

class CountingReporter extends Spec {
  constructor(runner, options) {
    super(runner, options);
    runner.once("end", () => {
      const file = process.env.ORCH_TEST_STATS;
      if (file) {
        const { passes, failures, pending } = this.stats;
        fs.writeFileSync(file, JSON.stringify({ passes, failures, pending }));
      }
      if (this.stats.failures > 0 && process.env.ORCH_STACK_LOG) {
        process.stdout.write(
          `  The emulators' and functions' output of this run: ${process.env.ORCH_STACK_LOG}\n`,
        );
      }
    });
  }
}

module.exports = CountingReporter;
