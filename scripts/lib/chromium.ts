/**
 * Finds (and on Debian, as root, installs) the Chromium that the browser tests and the demo's
 * screenshot drive through playwright-core. Playwright's own browser download cannot work on a
 * machine that reaches only package registries, so the distribution's package is used instead.
 */
import { spawnSync } from "node:child_process";
import fs from "node:fs";

const CANDIDATES = ["/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome"];

/** Flags that work in a sandboxless container with no network beyond localhost. */
export const CHROMIUM_ARGS = [
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--disable-dev-shm-usage",
];

function found(): string | null {
  const fromEnv = process.env.ORCH_CHROMIUM;
  if (fromEnv) return fs.existsSync(fromEnv) ? fromEnv : null;
  return CANDIDATES.find((candidate) => fs.existsSync(candidate)) ?? null;
}

/** The environment that hands a found Chromium (or why there is none) to the browser tests and the demo. */
/** A Chromium's path, or why there is none. */
export type ChromiumFound = { path: string; reason?: undefined } | { reason: string; path?: undefined };

export function chromiumEnv(
  found: ChromiumFound,
): { ORCH_CHROMIUM: string } | { ORCH_CHROMIUM_MISSING: string } {
  return found.path !== undefined ? { ORCH_CHROMIUM: found.path } : { ORCH_CHROMIUM_MISSING: found.reason };
}

/**
 * { path } of a Chromium, installing Debian's `chromium` package when it is missing and this
 * process may (root with apt-get; ORCH_NO_INSTALL=1 forbids it); otherwise { reason }.
 */
export function ensureChromium({
  log = console.log,
}: { log?: (message: string) => void } = {}): ChromiumFound {
  const existing = found();
  if (existing) return { path: existing };
  if (process.env.ORCH_CHROMIUM)
    return { reason: `ORCH_CHROMIUM=${process.env.ORCH_CHROMIUM} does not exist` };
  const canInstall =
    process.env.ORCH_NO_INSTALL !== "1" &&
    typeof process.getuid === "function" &&
    process.getuid() === 0 &&
    fs.existsSync("/usr/bin/apt-get");
  if (!canInstall)
    return { reason: "no Chromium found; install Debian's chromium package (apt-get install chromium)" };
  log("Installing Debian's chromium package for the browser tests (apt-get, about half a minute) ...");
  const env = { ...process.env, DEBIAN_FRONTEND: "noninteractive" };
  const update = spawnSync("apt-get", ["update", "-qq"], { stdio: "inherit", env });
  const install =
    update.status === 0
      ? spawnSync("apt-get", ["install", "-y", "-qq", "chromium"], { stdio: "inherit", env })
      : update;
  const installed = found();
  if (installed) return { path: installed };
  return { reason: `installing chromium with apt-get failed (exit ${install.status}); install it by hand` };
}
