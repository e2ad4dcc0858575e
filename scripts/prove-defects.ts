/**
 * Proves that the tests of issue 10's defects can fail: each defect is put back into a scratch copy
 * of the committed tree (a mutant: the smallest edit that undoes its fix), and the tests that
 * guard it are run against that copy. A guard that still passes means the defect could come back
 * unnoticed, and the run fails.
 *
 *   npm run prove-defects                       every mutant, simulation and unit guards only
 *   npm run prove-defects -- --integration      also the emulator guards (a stack per mutant, slow)
 *   npm run prove-defects -- --guards integration --only 1,7    some kinds of guard, some defects
 *
 * Each mutant is a list of exact text replacements; one whose text is no longer found (the code
 * moved) is reported as such and fails the run, so the table cannot go stale silently. The report
 * goes to out/defects/report.json; each guard's output to out/defects/<defect>-<guard>.log.
 */
import { spawn } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

const root = path.resolve(fileURLToPath(new URL("..", import.meta.url)));
const outDir = path.join(root, "out", "defects");

interface Replacement {
  file: string;
  find: string;
  replace: string;
}

type Guard =
  | { kind: "simulation"; seeds: number }
  | { kind: "unit"; spec: string; grep?: string }
  | { kind: "integration"; spec: string; grep?: string };

interface Mutant {
  defect: string;
  title: string;
  /** What the mutant does to the code, in words. */
  change: string;
  replacements: Replacement[];
  guards: Guard[];
}

const ENGINE = "functions/src/engine/engine.ts";
const ENGINE_STORE = "functions/src/store/engine-store.ts";
const FAULTS = "test/integration/engine-faults.spec.ts";

/** Issue 10's defects, each with the edit that brings it back and the tests that must then fail. */
const MUTANTS: Mutant[] = [
  {
    defect: "1",
    title: "double rollback",
    change: "a rollback claim held by a live attempt can be taken over (no 'held by attempt' refusal)",
    replacements: [
      {
        file: "functions/src/domain/engine-model.ts",
        find: 'if (current?.status === "running" && current.lease_expires_at.getTime() > now.getTime())',
        replace: 'if (current?.status === "running" && current.lease_expires_at.getTime() < 0)',
      },
    ],
    guards: [
      { kind: "simulation", seeds: 400 },
      { kind: "integration", spec: FAULTS, grep: "defect 1:" },
    ],
  },
  {
    defect: "2",
    title: "a lost trigger hangs a deployment",
    change: "the sweeper no longer reconciles deployments that have not ended",
    replacements: [
      {
        file: ENGINE,
        find: "for (const deployment of await engineStore.activeDeployments(200)) {",
        replace: "for (const deployment of [] as Deployment[]) {",
      },
    ],
    guards: [
      { kind: "simulation", seeds: 400 },
      { kind: "integration", spec: FAULTS, grep: "defect 2:" },
    ],
  },
  {
    defect: "3",
    title: "one bad environment stops every sweep",
    change: "a failing sweep step is rethrown instead of isolated",
    replacements: [
      { file: ENGINE, find: "errors.push(`${what}: ${errorText(error)}`);", replace: "throw error;" },
    ],
    guards: [
      { kind: "simulation", seeds: 400 },
      { kind: "integration", spec: FAULTS, grep: "defect 3:" },
    ],
  },
  {
    defect: "4a",
    title: "no lease renewal",
    change: "the executor keeps no heartbeat while its driver runs",
    replacements: [
      {
        file: ENGINE,
        find: "const stop = keepAlive(renew, running.lease_seconds);",
        replace: "const stop = () => undefined;",
      },
    ],
    guards: [
      { kind: "simulation", seeds: 400 },
      { kind: "integration", spec: FAULTS, grep: "defect 4: a driver slower" },
    ],
  },
  {
    defect: "4b",
    title: "a stale attempt still writes",
    change: "an outcome is recorded whatever attempt now holds the task (no fencing)",
    replacements: [
      {
        file: ENGINE_STORE,
        find: "if (current && current.attempt !== attempt) {\n          return {\n            changed: false,\n            reason: `attempt ${attempt} is stale",
        replace:
          "if (current && current.attempt !== attempt && attempt < 0) {\n          return {\n            changed: false,\n            reason: `attempt ${attempt} is stale",
      },
    ],
    guards: [
      { kind: "simulation", seeds: 400 },
      { kind: "integration", spec: FAULTS, grep: "defect 4: an attempt that lost" },
    ],
  },
  {
    defect: "5",
    title: "leaked reservations",
    change: "a refused claim keeps its reservation",
    replacements: [
      {
        file: ENGINE_STORE,
        find: "const giveBack = () => tx.delete(reservationRef(id));",
        replace: "const giveBack = () => undefined;",
      },
    ],
    guards: [
      { kind: "simulation", seeds: 400 },
      { kind: "integration", spec: FAULTS, grep: "defect 5:" },
    ],
  },
  {
    defect: "6",
    title: "head-of-line blocking",
    change: "dispatch reserves tasks still waiting out their backoff",
    replacements: [
      {
        file: ENGINE_STORE,
        find: "return notBefore === null || notBefore.getTime() <= now.getTime();",
        replace: "return notBefore === null || notBefore.getTime() > 0;",
      },
    ],
    guards: [
      { kind: "simulation", seeds: 400 },
      { kind: "integration", spec: FAULTS, grep: "defect 6:" },
    ],
  },
  {
    defect: "7",
    title: "side effects after commit are lost on a crash",
    change: "the sweeper no longer relays outbox entries a crashed step left behind",
    replacements: [
      {
        file: ENGINE,
        find: "for (const id of await outbox.pending(new Date(now.getTime() - STALE_OUTBOX_MS), 500)) {",
        replace: "for (const id of [] as string[]) {",
      },
    ],
    guards: [
      { kind: "simulation", seeds: 400 },
      { kind: "integration", spec: FAULTS, grep: "defect 7:" },
    ],
  },
  {
    defect: "8",
    title: "an unhandled rejection during a long apply",
    change: "the claim's event is published before the driver runs and awaited only after it",
    replacements: [
      {
        file: ENGINE,
        find: "    let result: ApplyResult | undefined;\n    let failure: unknown;\n    try {",
        replace:
          "    const announced = bus.publishEvent(orchestrationEventSchema.parse({ ...claimEventOf(running), at: clock.now().toISOString() }));\n    let result: ApplyResult | undefined;\n    let failure: unknown;\n    try {",
      },
      {
        file: ENGINE,
        find: "    } finally {\n      stop();\n    }\n    let outcome: Transition<Task>;",
        replace:
          "    } finally {\n      stop();\n    }\n    await announced;\n    let outcome: Transition<Task>;",
      },
      {
        file: ENGINE,
        find: "function retryOptions(deployment: Deployment): EngineOptions {",
        replace:
          'function claimEventOf(task: Task) {\n  return { event_id: `task:${task.id}:claim:${task.attempt}`, kind: "task", deployment_id: task.deployment_id, task_id: task.id, environment: task.environment, integration: task.integration, from: "ready", to: "running", attempt: task.attempt, detail: null, correlation_id: task.deployment_id, duration: null, payload: {} };\n}\n\nfunction retryOptions(deployment: Deployment): EngineOptions {',
      },
    ],
    guards: [{ kind: "simulation", seeds: 400 }],
  },
  {
    defect: "9",
    title: "concurrent health checks open duplicate alerts",
    change: "a check does not see the incident already open",
    replacements: [
      {
        file: "functions/src/engine/health.ts",
        find: 'const open = openSnap?.status === "open" ? openSnap : undefined;',
        replace: 'const open = openSnap?.status === "open" && openId === "" ? openSnap : undefined;',
      },
    ],
    guards: [
      { kind: "integration", spec: "test/integration/health-alerts.spec.ts", grep: "five concurrent" },
    ],
  },
  {
    defect: "10",
    title: "rollback policy read from the current config",
    change: "finalize and reconcile read the policy from the loaded config, not the deployment's snapshot",
    replacements: [
      {
        file: ENGINE,
        find: "const policy = deployment.rollback_policy ?? (await policyOf(deployment));\n    const settlement",
        replace: "const policy = await policyOf(deployment);\n    const settlement",
      },
      {
        file: ENGINE,
        find: "const policy = deployment.rollback_policy ?? (await policyOf(deployment));\n    const track",
        replace: "const policy = await policyOf(deployment);\n    const track",
      },
    ],
    guards: [
      { kind: "simulation", seeds: 400 },
      { kind: "integration", spec: FAULTS, grep: "defect 10:" },
    ],
  },
  {
    defect: "11",
    title: "audit records dropped or doubled under concurrent appends",
    change: "every chain writer takes the lease and commits without checking it still holds it",
    replacements: [
      {
        file: "functions/src/store/audit-log.ts",
        find: "if (heldByAnother((await leaseRef.get()).data())) return false;",
        replace: "",
      },
      {
        file: "functions/src/store/audit-log.ts",
        find: "if (heldByAnother((await tx.get(leaseRef)).data())) return false;",
        replace: "",
      },
      {
        file: "functions/src/store/audit-log.ts",
        find: 'if (!lease.success || lease.data.owner !== owner) return "lost" as const;',
        replace: "",
      },
    ],
    guards: [
      { kind: "simulation", seeds: 400 },
      { kind: "integration", spec: "test/integration/audit.spec.ts", grep: "concurrent appends" },
    ],
  },
  {
    defect: "12",
    title: "production_requires_admin bypassed by a document write",
    change: "the engine's second check ignores the production rule",
    replacements: [
      {
        file: "functions/src/auth/access-control.ts",
        find: "{ productionRequiresAdmin: config.access.production_requires_admin },\n      );\n      return decision.allowed",
        replace: "{ productionRequiresAdmin: false },\n      );\n      return decision.allowed",
      },
    ],
    guards: [{ kind: "integration", spec: "test/integration/authorize-request.spec.ts" }],
  },
  {
    defect: "13",
    title: "scope leaks on list and aggregate routes",
    change: "the scope filter of lists keeps every environment",
    replacements: [
      {
        file: "functions/src/domain/scope.ts",
        find: "return principal ? items.filter((item) => inScope(principal, item.environment)) : [];",
        replace: "return principal ? [...items] : [];",
      },
    ],
    guards: [
      { kind: "unit", spec: "test/unit/scope.spec.ts" },
      { kind: "integration", spec: "test/integration/scope.spec.ts" },
    ],
  },
];

function option(name: string): string | undefined {
  const index = process.argv.indexOf(`--${name}`);
  return index >= 0 ? process.argv[index + 1] : undefined;
}

/** Runs a command in a directory; its output goes to a log file. Answers the exit code and the output. */
function run(
  command: string,
  args: string[],
  cwd: string,
  logFile: string,
): Promise<{ code: number; output: string }> {
  return new Promise((resolve) => {
    const child = spawn(command, args, {
      cwd,
      env: { ...process.env, PATH: `${path.join(root, "node_modules", ".bin")}:${process.env.PATH ?? ""}` },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let output = "";
    child.stdout.on("data", (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on("data", (chunk: Buffer) => (output += chunk.toString()));
    child.on("close", (code) => {
      writeFileSync(logFile, output);
      resolve({ code: code ?? 1, output });
    });
  });
}

/** A scratch worktree of HEAD sharing this checkout's installed packages. */
async function scratchTree(name: string): Promise<string> {
  const dir = path.join(os.tmpdir(), `orch-mutant-${name}-${process.pid}`);
  rmSync(dir, { recursive: true, force: true });
  const added = await run(
    "git",
    ["worktree", "add", "--detach", dir, "HEAD"],
    root,
    path.join(outDir, "git.log"),
  );
  if (added.code !== 0) throw new Error(`git worktree add failed: ${added.output}`);
  symlinkSync(path.join(root, "node_modules"), path.join(dir, "node_modules"));
  symlinkSync(path.join(root, "functions", "node_modules"), path.join(dir, "functions", "node_modules"));
  return dir;
}

async function removeTree(dir: string): Promise<void> {
  await run("git", ["worktree", "remove", "--force", dir], root, path.join(outDir, "git.log"));
  rmSync(dir, { recursive: true, force: true });
}

/** Applies a mutant's replacements; answers the first one whose text is not found exactly once. */
function applyMutant(dir: string, mutant: Mutant): string | null {
  for (const { file, find, replace } of mutant.replacements) {
    const full = path.join(dir, file);
    const text = readFileSync(full, "utf8");
    const count = text.split(find).length - 1;
    if (count !== 1)
      return `${file}: the text to change was found ${count} times (expected once): ${find.slice(0, 80)}`;
    writeFileSync(
      full,
      text.replace(find, () => replace),
    );
  }
  return null;
}

/** The first failed test's title and the first line of its error, from mocha's report. */
function firstFailure(output: string): string {
  const lines = output.split("\n");
  const start = lines.findIndex((line) => /^\s+1\) /.test(line));
  if (start < 0) return "";
  const block = lines.slice(start, start + 12).map((line) => line.trim());
  const errorLine = block.find((line) => /Error|expected|Timeout/.test(line)) ?? "";
  const title = block
    .slice(
      0,
      block.findIndex((line) => line === errorLine),
    )
    .join(" ")
    .replace(/^1\) /, "");
  return `"${title}" ${errorLine}`.slice(0, 400);
}

interface GuardResult {
  guard: string;
  caught: boolean;
  evidence: string;
  seconds: number;
  log: string;
}

const withStackScript = (dir: string) =>
  ["scripts/with-stack.ts", "scripts/with-stack.mjs"].find((file) => existsSync(path.join(dir, file))) ??
  "scripts/with-stack.mjs";

async function runGuard(dir: string, mutant: Mutant, guard: Guard, index: number): Promise<GuardResult> {
  const label =
    guard.kind === "simulation"
      ? `simulation, ${guard.seeds} seeds`
      : `${guard.kind}: ${path.basename(guard.spec)}${guard.grep ? ` "${guard.grep}"` : ""}`;
  const log = path.join(outDir, `${mutant.defect}-${index + 1}-${guard.kind}.log`);
  const started = performance.now();
  let result: { code: number; output: string };
  let evidence: string;
  if (guard.kind === "simulation") {
    result = await run(
      "node",
      [
        "--experimental-async-context-frame",
        "--import",
        "tsx",
        "scripts/simulate.ts",
        "--runs",
        String(guard.seeds),
        "--workers",
        "2",
      ],
      dir,
      log,
    );
    const violated = /violations: (.+)$/m.exec(result.output.split("\n").reverse().join("\n"))?.[1] ?? "";
    evidence = result.code === 1 && violated && violated !== "none" ? `violated: ${violated}` : "";
  } else {
    const mocha = [
      "mocha",
      "--import=tsx",
      "--extension",
      "ts",
      "--timeout",
      "120000",
      "--reporter",
      "dot",
      ...(guard.grep ? ["--grep", guard.grep] : []),
      guard.spec,
    ];
    result =
      guard.kind === "unit"
        ? await run("npx", mocha, dir, log)
        : await run(
            "npx",
            [
              "tsx",
              withStackScript(dir),
              "--name",
              `mutant-${mutant.defect}`,
              "--offset",
              "150",
              "--",
              "npx",
              ...mocha,
            ],
            dir,
            log,
          );
    const failing = /(\d+) failing/.exec(result.output)?.[1];
    const passing = /(\d+) passing/.exec(result.output)?.[1] ?? "0";
    evidence =
      result.code !== 0 && failing
        ? `${failing} failing, ${passing} passing: ${firstFailure(result.output)}`
        : "";
  }
  const caught = evidence !== "";
  return {
    guard: label,
    caught,
    evidence: caught ? evidence : `not caught (exit ${result.code})`,
    seconds: (performance.now() - started) / 1000,
    log: path.relative(root, log),
  };
}

async function main(): Promise<number> {
  const kinds = (
    option("guards") ??
    (process.argv.includes("--integration") ? "simulation,unit,integration" : "simulation,unit")
  ).split(",");
  const only = option("only")?.split(",");
  const chosen = MUTANTS.filter((mutant) => !only || only.includes(mutant.defect));
  mkdirSync(outDir, { recursive: true });
  const report: { defect: string; title: string; change: string; problem?: string; guards: GuardResult[] }[] =
    [];
  let survived = 0;
  console.log(
    `${chosen.length} mutant(s), each the smallest edit that brings a defect of issue 10 back; guards: ${kinds.join(", ")} (logs in ${path.relative(root, outDir)}/)`,
  );
  for (const mutant of chosen) {
    const guards = mutant.guards.filter((guard) => kinds.includes(guard.kind));
    const dir = await scratchTree(mutant.defect);
    try {
      const problem = applyMutant(dir, mutant);
      if (problem) {
        survived += 1;
        console.log(`defect ${mutant.defect} (${mutant.title}): mutant no longer applies: ${problem}`);
        report.push({ ...mutant, problem, guards: [] });
        continue;
      }
      const results: GuardResult[] = [];
      for (const [index, guard] of guards.entries()) results.push(await runGuard(dir, mutant, guard, index));
      if (results.length > 0 && !results.some((result) => result.caught)) survived += 1;
      console.log(`defect ${mutant.defect} (${mutant.title}): ${mutant.change}`);
      for (const result of results)
        console.log(
          `    ${result.caught ? "caught " : "MISSED "} ${result.guard}: ${result.evidence} (${result.seconds.toFixed(0)} s)`,
        );
      if (guards.length === 0) console.log(`    (no guard of kind ${kinds.join(", ")})`);
      report.push({ defect: mutant.defect, title: mutant.title, change: mutant.change, guards: results });
    } finally {
      await removeTree(dir);
    }
  }
  writeFileSync(path.join(outDir, "report.json"), `${JSON.stringify(report, null, 2)}\n`);
  const unguarded = report.filter((entry) => entry.guards.length === 0 && !entry.problem).length;
  console.log(
    survived === 0
      ? `every mutant was caught${unguarded > 0 ? ` (${unguarded} had no guard of the kinds run)` : ""}`
      : `${survived} mutant(s) not caught or not applicable: see above`,
  );
  return survived === 0 ? 0 : 1;
}

process.exitCode = await main();
