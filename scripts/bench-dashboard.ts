/**
 * `npm run bench:dashboard`: the dashboard's event-to-screen latency against a plain Firestore
 * listener, on its own stack ("benchdash", port offset 20 like `npm run bench`, so never both at
 * once). The measuring itself is bench/dashboard.ts.
 */
import path from "node:path";
import { ensureChromium } from "./lib/chromium.js";
import { repoRoot } from "./lib/stack.js";
import { withStack } from "./with-stack.js";

const browser = ensureChromium();
if (browser.path === undefined) {
  console.error(`bench:dashboard needs a headless Chromium: ${browser.reason}`);
  process.exit(1);
}
const code = await withStack({
  name: "benchdash",
  offset: 20,
  command: path.join(repoRoot, "node_modules", ".bin", "tsx"),
  args: [path.join(repoRoot, "bench", "dashboard.ts")],
  env: { ORCH_CHROMIUM: browser.path },
});
process.exit(code);
