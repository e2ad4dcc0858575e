/**
 * Bundles the dashboard (dashboard/src, with the shared visual and domain code) into
 * dashboard/public/app.js, which Hosting serves. Run by every script that starts a stack, and by
 * the Hosting predeploy.
 */
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
export const dashboardBundle = path.join(repoRoot, "dashboard", "public", "app.js");

/** Builds the bundle; answers its size in bytes. */
export async function buildDashboard(): Promise<number> {
  const result = await build({
    entryPoints: [path.join(repoRoot, "dashboard", "src", "main.ts")],
    outfile: dashboardBundle,
    bundle: true,
    format: "esm",
    platform: "browser",
    target: "es2022",
    minify: true,
    sourcemap: true,
    legalComments: "none",
    logLevel: "warning",
    metafile: true,
  });
  return (
    result.metafile.outputs[path.relative(process.cwd(), dashboardBundle)]?.bytes ??
    fs.statSync(dashboardBundle).size
  );
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const bytes = await buildDashboard();
  console.log(`dashboard: ${path.relative(repoRoot, dashboardBundle)} (${(bytes / 1024).toFixed(0)} KiB)`);
}
