/**
 * `npm run demo`: the whole system on a fresh local Emulator Suite (stack "demo", port offset 30,
 * so it runs beside `npm run emulators` and the tests). The steps themselves are scripts/demo-run.ts.
 *
 *   npm run demo [-- --keep] [--verbose] [--name demo --offset 30]
 *
 * The terminal shows the demo's story; the build's, the emulators' and the functions' output goes
 * to .stack/<name>/demo.log (--verbose shows it live too). --keep leaves the stack up afterwards,
 * for the dashboard, until Ctrl-C.
 */
import path from "node:path";
import { parseArgs } from "node:util";
import { chromiumEnv, ensureChromium } from "./lib/chromium.js";
import { reportError, repoRoot, stackDir } from "./lib/stack.js";
import { withStack } from "./with-stack.js";

const { values: options } = parseArgs({
  options: {
    keep: { type: "boolean", default: false },
    verbose: { type: "boolean", default: false },
    name: { type: "string", default: "demo" },
    offset: { type: "string", default: "30" },
    help: { type: "boolean", short: "h", default: false },
  },
});
if (options.help) {
  console.log(`Usage: npm run demo [-- --keep] [--verbose] [--name demo --offset 30]

  Runs the whole system on a fresh local Emulator Suite and tells its story in numbered steps.
  --keep      leave the stack up afterwards, for the dashboard, until Ctrl-C
  --verbose   show the build's, the emulators' and the functions' output live (it always goes to
              .stack/<name>/demo.log)
  --name, --offset   the stack's name and port offset (a multiple of 10; default demo, 30)`);
  process.exit(0);
}
const logFile = path.join(stackDir, options.name, "demo.log");
const started = Date.now();
console.log(
  `Starting a fresh emulator stack "${options.name}" (build, Auth, Firestore, Functions, Pub/Sub, Hosting);` +
    `\nits output and the functions' logs: ${path.relative(process.cwd(), logFile)}${options.verbose ? " (and shown below)" : ""}`,
);
// Chromium only takes the dashboard's screenshots; without it the demo still runs and says so.
const browser = ensureChromium();
try {
  const code = await withStack({
    name: options.name,
    offset: Number(options.offset),
    command: path.join(repoRoot, "node_modules", ".bin", "tsx"),
    args: [path.join(repoRoot, "scripts", "demo-run.ts")],
    logFile,
    verbose: options.verbose,
    env: {
      ...chromiumEnv(browser),
      ...(options.keep ? { ORCH_DEMO_KEEP: "1" } : {}),
    },
  });
  console.log(
    `\nThe demo ${code === 0 ? "ended as expected" : `failed (exit ${code})`} in ${((Date.now() - started) / 1000).toFixed(0)} s.`,
  );
  process.exit(code);
} catch (err) {
  reportError(err);
  process.exit(1);
}
