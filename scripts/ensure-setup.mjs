// First-run setup before `npm run demo|test|emulators|bench`: on a fresh clone it installs the
// dependencies (which bring Node 22 through the node@22 devDependency), then checks what it can.
// Prints nothing when all is well; otherwise one clear line and exit 1.
//
// This file runs under whatever Node started npm (the machine's may be 20), so it uses only
// what every Node has. Java and the Cloud CLI emulators are checked by the scripts that start the
// emulators (scripts/lib/stack.js), since unit tests run without them.

import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const functionsDir = path.join(repoRoot, "functions");
const node22 = path.join(repoRoot, "node_modules", ".bin", "node");

function fail(message) {
  console.error(message);
  process.exit(1);
}

const require = createRequire(import.meta.url);
const resolves = (pkg, dir) => {
  try {
    require.resolve(pkg, { paths: [dir] });
    return true;
  } catch {
    return false;
  }
};
const needed = [
  ["firebase-functions", functionsDir],
  ["firebase-admin", functionsDir],
  ["@google-cloud/firestore", functionsDir],
  ["firebase-tools/package.json", repoRoot],
  ["mocha/package.json", repoRoot],
];

if (!fs.existsSync(node22) || needed.some(([pkg, dir]) => !resolves(pkg, dir))) {
  console.log("First run: installing dependencies (npm ci), including Node 22 ...");
  const install = spawnSync("npm", ["ci", "--no-audit", "--no-fund"], { cwd: repoRoot, stdio: "inherit" });
  if (install.status !== 0) {
    fail(
      `npm ci failed in ${repoRoot} (exit ${install.status}); check the registry is reachable and run it by hand to see why`,
    );
  }
}
for (const [pkg, dir] of needed) {
  if (!resolves(pkg, dir))
    fail(
      `Cannot resolve ${pkg.replace("/package.json", "")} from ${dir} after installing; run \`npm ci\` in ${repoRoot}`,
    );
}
const version = spawnSync(node22, ["--version"], { encoding: "utf8" });
if (version.status !== 0 || !version.stdout.startsWith("v22.")) {
  fail(
    `Node 22 is needed: ${node22} ${version.status === 0 ? `is ${version.stdout.trim()}` : "does not run"}; run \`npm ci\` so the node@22 devDependency installs it`,
  );
}
