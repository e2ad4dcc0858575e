// `npm run demo`: the whole system on a fresh local Emulator Suite (stack "demo", port offset 30,
// so it runs beside `npm run emulators` and the tests). The steps themselves are scripts/demo-run.ts.
// `npm run demo -- --keep` leaves the stack up afterwards, for the dashboard, until Ctrl-C.
import path from "node:path";
import { chromiumEnv, ensureChromium } from "./lib/chromium.mjs";
import { repoRoot } from "./lib/stack.mjs";
import { withStack } from "./with-stack.mjs";

// Chromium only takes the dashboard's screenshots; without it the demo still runs and says so.
const browser = ensureChromium();
const code = await withStack({
  name: "demo",
  offset: 30,
  command: path.join(repoRoot, "node_modules", ".bin", "tsx"),
  args: [path.join(repoRoot, "scripts", "demo-run.ts")],
  env: {
    ...chromiumEnv(browser),
    ...(process.argv.includes("--keep") ? { ORCH_DEMO_KEEP: "1" } : {}),
  },
});
process.exit(code);
