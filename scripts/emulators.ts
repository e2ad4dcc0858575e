/**
 * `npm run emulators`: runs the local stack (Auth, Firestore, Functions, Pub/Sub, Hosting) until
 * Ctrl-C, loads orchestration.json into the control plane and prints the URLs.
 *
 * Env: ORCH_STACK (stack name, default "default"), ORCH_PORT_OFFSET (multiple of 10, default 0).
 * A second stack side by side: ORCH_STACK=test ORCH_PORT_OFFSET=10 npm run emulators
 */
import { emulatorToken } from "./lib/auth.js";
import { startLocalTicker } from "./lib/ticker.js";
import { spawn } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import {
  buildFunctions,
  describeEmulators,
  EMULATORS,
  firebaseArgs,
  firebaseBin,
  portsFree,
  prepareStack,
  repoRoot,
  reportError,
  stackEnv,
  stackUrls,
  stackWorkDir,
  startWarehouse,
  waitForStack,
  type Stack,
} from "./lib/stack.js";

const name = process.env.ORCH_STACK || "default";
const portOffset = process.env.ORCH_PORT_OFFSET || "0";

/** The local stack's own admin (the config loader and the scheduler), signed in on the Auth emulator. */
function adminToken(stack: Stack): Promise<string> {
  return emulatorToken({
    authHost: `${stack.hosts.auth ?? "127.0.0.1"}:${stack.ports.auth}`,
    projectId: stack.projectId,
    role: "admin",
    email: "scheduler@orchestrator.local",
  });
}

async function loadOrchestrationConfig(apiUrl: string, token: string): Promise<void> {
  const file = path.join(repoRoot, "orchestration.json");
  if (!fs.existsSync(file)) {
    console.log(`orchestration.json: not loaded (${file} does not exist)`);
    return;
  }
  const url = `${apiUrl}/api/orchestration/config`;
  try {
    const res = await fetch(url, {
      method: "POST",
      headers: { "Content-Type": "application/json", Authorization: `Bearer ${token}` },
      body: fs.readFileSync(file, "utf8"),
      signal: AbortSignal.timeout(60_000),
    });
    console.log(`orchestration.json: POST ${url} -> ${res.status} ${res.statusText}`);
    if (!res.ok) console.log((await res.text()).trim().slice(0, 2000));
  } catch (err) {
    const error = err as Error & { cause?: { code?: string } };
    console.log(`orchestration.json: POST ${url} failed: ${error.cause?.code ?? error.message}`);
  }
}

async function main(): Promise<never> {
  let stack: Stack;
  try {
    stack = prepareStack({ name, portOffset });
    await portsFree(stack);
    await buildFunctions();
  } catch (err) {
    reportError(err);
    process.exit(1);
  }
  const env = stackEnv(stack);
  const [node, firebase] = firebaseBin();
  const args = firebaseArgs(stack, "emulators:start");
  console.log(
    `Starting stack "${stack.name}" (project ${stack.projectId}, port offset ${stack.portOffset}) with Java ${stack.java}`,
  );

  let ready = false;
  let exited: { code: number | null; signal: NodeJS.Signals | null } | null = null;
  const child = spawn(node, [firebase, ...args], {
    cwd: stackWorkDir(stack),
    env,
    stdio: ["ignore", "pipe", "pipe"],
  });
  const exitPromise = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.on("exit", (code, signal) => {
      const ended = { code, signal };
      exited = ended;
      resolve(ended);
    });
  });
  // Pass firebase-tools output through, watching for its ready line.
  let tail = "";
  child.stdout.on("data", (chunk: Buffer) => {
    process.stdout.write(chunk);
    tail = (tail + chunk.toString("utf8")).slice(-4000);
    if (!ready && tail.includes("All emulators ready")) ready = true;
  });
  child.stderr.on("data", (chunk: Buffer) => process.stderr.write(chunk));

  // Never leave firebase-tools running behind us.
  process.on("exit", () => {
    if (exited === null) child.kill("SIGTERM");
  });

  let failed = false;
  let stopping = false;
  const stop = (signal: NodeJS.Signals) => {
    if (stopping) {
      console.log(`\nStill waiting for firebase-tools (pid ${child.pid}) to stop; sending ${signal} again`);
    }
    stopping = true;
    if (exited === null) child.kill(signal);
  };
  process.on("SIGINT", () => stop("SIGINT"));
  process.on("SIGTERM", () => stop("SIGTERM"));

  try {
    const result = await waitForStack(stack, {
      isAlive: () => exited === null,
      isReady: () => ready,
    });
    const urls = stackUrls(stack);
    console.log("");
    if (!result.api.ok) console.log(`api function: not available (${result.api.detail})`);
    const warehouse = await startWarehouse({ env, stackName: stack.name, fresh: true });
    process.on("exit", () => {
      try {
        if (warehouse.pid !== undefined) process.kill(warehouse.pid, "SIGTERM");
      } catch {
        // already gone
      }
    });
    console.log(`Warehouse: DuckDB ${warehouse.db} (stands in for BigQuery) on ${warehouse.url}`);
    const token = await adminToken(stack);
    await loadOrchestrationConfig(urls.api, token);
    console.log("");
    console.log(`Stack "${stack.name}" is up (project ${stack.projectId}). Ctrl-C to stop.`);
    console.log(`  API (direct):      ${urls.api}/api/orchestration`);
    console.log(`  API (via hosting): ${urls.hostingApi}`);
    console.log(`  Dashboard:         ${urls.hosting}/`);
    for (const n of EMULATORS) {
      const e = result.emulators?.[n];
      if (e) console.log(`  ${(n + ":").padEnd(18)} ${e.host}:${e.port}`);
    }
    console.log(`  ${"hub:".padEnd(18)} ${urls.hub}`);
    console.log(`  emulators: ${describeEmulators(result.emulators)}`);
    console.log("");
    console.log("Client env:");
    for (const k of [
      "FIRESTORE_EMULATOR_HOST",
      "PUBSUB_EMULATOR_HOST",
      "FIREBASE_AUTH_EMULATOR_HOST",
      "GCLOUD_PROJECT",
      "ORCH_API_URL",
    ]) {
      console.log(`  export ${k}=${env[k] ?? ""}`);
    }
    // Cloud Scheduler has no emulator and the Functions emulator never fires onSchedule functions:
    // the stack runs the catalog itself, through the scheduledJob function.
    await startLocalTicker({ apiUrl: urls.api, token: () => adminToken(stack) });
  } catch (err) {
    if (!stopping) {
      failed = true;
      reportError(err);
      if (exited === null) child.kill("SIGINT");
    }
  }

  const { code, signal } = await exitPromise;
  if (failed) process.exit(1);
  if (stopping) process.exit(0);
  // firebase-tools stopped by itself (e.g. an emulator died).
  console.error(`firebase-tools exited (${signal ?? `code ${code}`})`);
  process.exit(code || 1);
}

main().catch((err: unknown) => {
  reportError(err);
  process.exit(1);
});
