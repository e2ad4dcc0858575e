/**
 * `npm run deploy:control-plane -- --project <id> [--dry-run]`: deploys the control plane itself
 * (its functions codebase, the Firestore rules and indexes, the dashboard on Hosting) to a real
 * Firebase project with `firebase deploy`, after checking offline everything that can be checked:
 * the Node runtime, that the functions and the dashboard build, that the rules compile (the repo's
 * own rules linter), that the indexes and orchestration.json are valid, and each function's
 * region, memory and timeout. `--dry-run` stops after the checks and prints what would be
 * deployed. Exit codes: 0 deployed (or the dry run passed), 1 a check or the deploy failed, 2 usage.
 */
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { parseArgs } from "node:util";
import { z } from "zod";
import { validateConfig } from "../functions/src/domain/config.js";
import { REGIONS } from "../functions/src/domain/config-schema.js";
import { lintRules } from "../functions/src/drivers/rules-lint.js";

export const repoRoot = fileURLToPath(new URL("..", import.meta.url));

export interface Check {
  name: string;
  ok: boolean;
  detail: string;
}

/** The deployable parts of the control plane, as `firebase deploy --only` names them. */
export const DEPLOY_TARGETS = ["functions:control-plane", "firestore:rules", "firestore:indexes", "hosting"];

const firebaseJsonSchema = z.object({
  functions: z.array(z.object({ source: z.string(), codebase: z.string(), runtime: z.string() })).min(1),
  firestore: z.object({ rules: z.string(), indexes: z.string() }),
  hosting: z.object({
    public: z.string(),
    rewrites: z.array(
      z.object({ source: z.string(), function: z.object({ functionId: z.string(), region: z.string() }) }),
    ),
  }),
});
export type FirebaseJson = z.infer<typeof firebaseJsonSchema>;

/** The Node major the control plane runs on: firebase.json's runtime, functions' engines and this Node agree. */
export const NODE_MAJOR = 22;

export function checkRuntime(
  firebaseJson: FirebaseJson,
  enginesNode: string | undefined,
  nodeVersion: string,
): Check {
  const wrong: string[] = [];
  for (const fn of firebaseJson.functions)
    if (fn.runtime !== `nodejs${NODE_MAJOR}`)
      wrong.push(`firebase.json functions[${fn.codebase}].runtime is ${fn.runtime}`);
  if (enginesNode !== String(NODE_MAJOR))
    wrong.push(`functions/package.json engines.node is ${enginesNode ?? "missing"}`);
  if (!nodeVersion.startsWith(`v${NODE_MAJOR}.`)) wrong.push(`this Node is ${nodeVersion}`);
  return {
    name: "Node runtime",
    ok: wrong.length === 0,
    detail:
      wrong.length === 0 ? `nodejs${NODE_MAJOR} everywhere` : `needs Node ${NODE_MAJOR}: ${wrong.join("; ")}`,
  };
}

export function checkRules(text: string, file: string): Check {
  const problems = lintRules(text, file, "cloud.firestore");
  return {
    name: "Firestore rules compile",
    ok: problems.length === 0,
    detail: problems.length === 0 ? file : problems.map((p) => p.message).join("; "),
  };
}

const indexFieldSchema = z
  .object({
    fieldPath: z.string().min(1),
    order: z.enum(["ASCENDING", "DESCENDING"]).optional(),
    arrayConfig: z.enum(["CONTAINS"]).optional(),
  })
  .strict()
  .refine((field) => (field.order === undefined) !== (field.arrayConfig === undefined), {
    message: "each field needs exactly one of order or arrayConfig",
  });
const indexesSchema = z
  .object({
    indexes: z.array(
      z
        .object({
          collectionGroup: z.string().regex(/^[A-Za-z_][\w-]*$/),
          queryScope: z.enum(["COLLECTION", "COLLECTION_GROUP"]),
          fields: z.array(indexFieldSchema).min(2, "a composite index needs at least two fields"),
        })
        .strict(),
    ),
    fieldOverrides: z.array(z.unknown()).optional(),
  })
  .strict();

export function checkIndexes(raw: unknown, file: string): Check {
  const parsed = indexesSchema.safeParse(raw);
  if (!parsed.success)
    return {
      name: "Firestore indexes valid",
      ok: false,
      detail: parsed.error.issues
        .map((issue) => `${file}: ${issue.path.join(".")}: ${issue.message}`)
        .join("; "),
    };
  const seen = new Set<string>();
  const duplicates: string[] = [];
  for (const [position, index] of parsed.data.indexes.entries()) {
    const key = JSON.stringify(index);
    if (seen.has(key)) duplicates.push(`indexes.${position}`);
    seen.add(key);
  }
  return {
    name: "Firestore indexes valid",
    ok: duplicates.length === 0,
    detail:
      duplicates.length === 0
        ? `${parsed.data.indexes.length} composite indexes`
        : `${file}: ${duplicates.join(", ")} repeat an earlier index`,
  };
}

export function checkConfig(raw: unknown, file: string): Check {
  const result = validateConfig(raw);
  return {
    name: "orchestration.json valid",
    ok: result.ok,
    detail: result.ok
      ? `${result.config.environments.length} environments`
      : result.problems.map((p) => `${file}: ${p.message}`).join("; "),
  };
}

/** What firebase-functions declares for one exported function (the fields deploy reads). */
export interface Endpoint {
  region?: string[];
  availableMemoryMb?: number | null;
  timeoutSeconds?: number | null;
  httpsTrigger?: unknown;
  eventTrigger?: { eventType: string };
  scheduleTrigger?: { schedule: string };
}

/** Cloud Functions (2nd gen) memory sizes, in MB. */
const MEMORY_MB = [128, 256, 512, 1024, 2048, 4096, 8192, 16384, 32768];
/** The default memory when a function sets none. */
const DEFAULT_MEMORY_MB = 256;
/** Longest timeouts Cloud Functions (2nd gen) allows: HTTP (and scheduled, which call HTTP) vs event-driven. */
const MAX_TIMEOUT_SECONDS = { https: 3600, schedule: 1800, event: 540 } as const;

export function triggerOf(endpoint: Endpoint): keyof typeof MAX_TIMEOUT_SECONDS {
  if (endpoint.scheduleTrigger) return "schedule";
  if (endpoint.eventTrigger) return "event";
  return "https";
}

export function checkFunctions(endpoints: Record<string, Endpoint>, firebaseJson: FirebaseJson): Check {
  const problems: string[] = [];
  for (const [name, endpoint] of Object.entries(endpoints)) {
    for (const region of endpoint.region ?? [])
      if (!(REGIONS as readonly string[]).includes(region))
        problems.push(`${name}: unknown region ${region}`);
    const memory = endpoint.availableMemoryMb ?? DEFAULT_MEMORY_MB;
    if (!MEMORY_MB.includes(memory))
      problems.push(`${name}: memory ${memory} MB is not one of ${MEMORY_MB.join(", ")}`);
    const limit = MAX_TIMEOUT_SECONDS[triggerOf(endpoint)];
    if ((endpoint.timeoutSeconds ?? 60) > limit)
      problems.push(
        `${name}: timeout ${endpoint.timeoutSeconds} s is over the ${limit} s a ${triggerOf(endpoint)} function may have`,
      );
  }
  for (const rewrite of firebaseJson.hosting.rewrites) {
    const target = endpoints[rewrite.function.functionId];
    if (!target?.httpsTrigger || !(target.region ?? []).includes(rewrite.function.region))
      problems.push(
        `hosting rewrite ${rewrite.source} names ${rewrite.function.functionId} in ${rewrite.function.region}, which is no HTTPS function there`,
      );
  }
  return {
    name: "functions: regions, memory, timeouts",
    ok: problems.length === 0,
    detail: problems.length === 0 ? `${Object.keys(endpoints).length} functions` : problems.join("; "),
  };
}

/** One line per function: name, trigger, region, memory, timeout. */
export function describeFunctions(endpoints: Record<string, Endpoint>): string[] {
  return Object.entries(endpoints).map(([name, endpoint]) => {
    const trigger = endpoint.scheduleTrigger
      ? `schedule ${endpoint.scheduleTrigger.schedule}`
      : endpoint.eventTrigger
        ? endpoint.eventTrigger.eventType.replace(/^google\.cloud\./, "")
        : "https";
    return `${name.padEnd(22)} ${trigger.padEnd(40)} ${(endpoint.region ?? []).join(",").padEnd(12)} ${endpoint.availableMemoryMb ?? DEFAULT_MEMORY_MB} MB  ${endpoint.timeoutSeconds ?? 60} s`;
  });
}

const numberOrNull = (value: unknown): number | null => (typeof value === "number" ? value : null);

/** The functions codebase's exports that firebase-functions marks as deployable endpoints. */
export async function loadEndpoints(sourceDir: string): Promise<Record<string, Endpoint>> {
  const module = (await import(pathToFileURL(path.join(sourceDir, "src", "index.ts")).href)) as Record<
    string,
    { __endpoint?: Endpoint }
  >;
  const endpoints: Record<string, Endpoint> = {};
  for (const [name, value] of Object.entries(module)) {
    const endpoint = value?.__endpoint;
    // An option left unset is a firebase-functions reset marker (JSON null), not a number.
    if (endpoint)
      endpoints[name] = {
        ...endpoint,
        availableMemoryMb: numberOrNull(endpoint.availableMemoryMb),
        timeoutSeconds: numberOrNull(endpoint.timeoutSeconds),
      };
  }
  return endpoints;
}

function runQuietly(name: string, command: string, args: string[], what: string): Check {
  const result = spawnSync(command, args, { cwd: repoRoot, encoding: "utf8" });
  const output = `${result.stdout ?? ""}${result.stderr ?? ""}`.trim().split("\n").slice(-5).join(" | ");
  return {
    name,
    ok: result.status === 0,
    detail: result.status === 0 ? what : output,
  };
}

/** Every offline check, in order; `build` false skips compiling (the type check and the dashboard bundle). */
export async function dryRunChecks({ build = true }: { build?: boolean } = {}): Promise<{
  checks: Check[];
  endpoints: Record<string, Endpoint>;
}> {
  const read = (file: string) => readFileSync(path.join(repoRoot, file), "utf8");
  const firebaseJson = firebaseJsonSchema.parse(JSON.parse(read("firebase.json")));
  const functionsPackage = JSON.parse(read("functions/package.json")) as { engines?: { node?: string } };
  const checks: Check[] = [checkRuntime(firebaseJson, functionsPackage.engines?.node, process.version)];
  if (build) {
    const bin = (name: string) => path.join(repoRoot, "node_modules", ".bin", name);
    checks.push(
      runQuietly(
        "functions build (type check)",
        bin("tsc"),
        ["-p", "functions", "--noEmit"],
        "tsc -p functions",
      ),
    );
    const bundler = path.join(repoRoot, "scripts", "build-dashboard.ts");
    checks.push(runQuietly("dashboard bundle", bin("tsx"), [bundler], "dashboard/public/app.js"));
  }
  checks.push(checkRules(read(firebaseJson.firestore.rules), firebaseJson.firestore.rules));
  checks.push(checkIndexes(JSON.parse(read(firebaseJson.firestore.indexes)), firebaseJson.firestore.indexes));
  checks.push(checkConfig(JSON.parse(read("orchestration.json")), "orchestration.json"));
  const source = firebaseJson.functions[0]?.source ?? "functions";
  const endpoints = await loadEndpoints(path.join(repoRoot, source));
  checks.push(checkFunctions(endpoints, firebaseJson));
  return { checks, endpoints };
}

/** The `firebase deploy` arguments for a project. */
export function deployArgs(project: string): string[] {
  return ["deploy", "--project", project, "--only", DEPLOY_TARGETS.join(","), "--non-interactive"];
}

async function main(): Promise<number> {
  let options;
  try {
    options = parseArgs({
      options: { project: { type: "string" }, "dry-run": { type: "boolean", default: false } },
    }).values;
  } catch (error) {
    console.error((error as Error).message);
    return 2;
  }
  const project = options.project;
  if (!project || !/^[a-z][a-z0-9-]{4,28}[a-z0-9]$/.test(project)) {
    console.error(
      `--project must be a Firebase project id (6-30 lowercase letters, digits, hyphens)${project ? `; got "${project}"` : ""}`,
    );
    return 2;
  }
  const { checks, endpoints } = await dryRunChecks();
  for (const check of checks) console.log(`${check.ok ? "✓" : "✗"} ${check.name.padEnd(38)} ${check.detail}`);
  if (checks.some((check) => !check.ok)) {
    console.error("Not deploying: a check failed (above).");
    return 1;
  }
  console.log(`\nWould deploy to ${project}: ${DEPLOY_TARGETS.join(", ")}`);
  for (const line of describeFunctions(endpoints)) console.log(`  ${line}`);
  console.log(`  hosting: dashboard/public, /api/orchestration/** -> api`);
  console.log(`  firebase ${deployArgs(project).join(" ")}`);
  if (options["dry-run"]) return 0;
  const firebase = path.join(repoRoot, "node_modules", "firebase-tools", "lib", "bin", "firebase.js");
  const deploy = spawnSync(process.execPath, [firebase, ...deployArgs(project)], {
    cwd: repoRoot,
    stdio: "inherit",
  });
  return deploy.status ?? 1;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url))
  process.exit(await main());
