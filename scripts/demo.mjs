// `npm run demo`: the whole system on a fresh local Emulator Suite (stack "demo", port offset 30,
// so it runs beside `npm run emulators` and the tests). The steps themselves are scripts/demo-run.ts.
import path from "node:path";
import { repoRoot } from "./lib/stack.mjs";
import { withStack } from "./with-stack.mjs";

const code = await withStack({
  name: "demo",
  offset: 30,
  command: path.join(repoRoot, "node_modules", ".bin", "tsx"),
  args: [path.join(repoRoot, "scripts", "demo-run.ts")],
});
process.exit(code);
