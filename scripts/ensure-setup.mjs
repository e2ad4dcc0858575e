// First-run checks before `npm run demo|test|emulators|bench`. Prints nothing when all is well;
// otherwise one clear line and exit 1.
//
// npm scripts only run after `npm install`, and the root devDependency `node@22` then puts a
// Node 22 binary first on their PATH. Java and the Cloud CLI emulators are checked by the
// scripts that start the emulators (scripts/lib/stack.mjs), since tests may run without them.

import fs from "node:fs";
import path from "node:path";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const functionsDir = path.join(repoRoot, "functions");

function fail(message) {
  console.error(message);
  process.exit(1);
}

const nodeMajor = Number(process.versions.node.split(".")[0]);
if (nodeMajor !== 22) {
  fail(
    `Node 22 is needed (this is Node ${process.versions.node} at ${process.execPath}); run \`npm install\` first so the node@22 devDependency is on PATH, and start things through npm scripts (npm run ...)`,
  );
}

if (!fs.existsSync(path.join(repoRoot, "node_modules"))) {
  fail(`${path.join(repoRoot, "node_modules")} is missing; run \`npm install\` in ${repoRoot}`);
}

const require = createRequire(import.meta.url);
for (const [pkg, dir] of [
  ["firebase-functions", functionsDir],
  ["firebase-admin", functionsDir],
  ["firebase-tools/package.json", repoRoot],
]) {
  try {
    require.resolve(pkg, { paths: [dir] });
  } catch {
    fail(
      `Cannot resolve ${pkg.replace("/package.json", "")} from ${dir}; run \`npm install\` in ${repoRoot} (it installs the functions workspace too)`,
    );
  }
}
