/**
 * `npm run bench`: how the engine compares with raw emulator hops under load, and what it costs in memory.
 *
 * Starts its own stack ("bench", port offset 20, so it never collides with a demo at 0 or tests at
 * 10) with a second, benchmark-only functions codebase (bench/functions: one Pub/Sub-triggered
 * function, benchHop), then runs its phases one after the other, each warmed up
 * just before it at its own concurrency (so a phase's peak memory holds its own workers and the
 * idle ones of the phases before it, never those of a later phase):
 *   1. engine:   E environments, T simulated zero-latency tasks each (50 instances of one kind, so
 *                no intra-deployment dependencies), each environment with concurrency C/E. Requested
 *                as a user with the Admin SDK does: by writing E `deployments` request documents
 *                (status requested, requested_by system:bench; DESIGN.md) at once, not through the
 *                API. Timed from the first write to the last deployment's completed_at.
 *   2. raw hops: E*T hops (publish to Pub/Sub -> benchHop -> one Firestore write) with at most C in
 *                flight. Timed from the first publish to the last write.
 *   3. floor ("raw hops with the engine's round trips"): the same hops, but benchHop makes R
 *                sequential Firestore round trips (--floor-round-trips, 14: what
 *                `npx tsx bench/hot-path.ts` counts per engine task at this bench's concurrency of
 *                2 an environment, 14.3 on the engine of 02cf5ca; recount when the engine changes;
 *                the mix is described in bench/functions/index.js), the last the same landing
 *                write. engine/floor says how
 *                much of the engine's time its round-trip count alone does not explain.
 * At each phase's end it prints the phase's peak memory and the functions workers by function
 * (FUNCTION_TARGET of each worker process); the overall peak is reported with the phase it fell in.
 * While it runs it samples, every 250 ms, the RSS summed over the firebase-tools process tree
 * (Java emulators and every functions worker included) and prints progress every second.
 *
 * Flags: --envs N (10) --tasks M (50) --concurrency C (20, total across environments)
 *        --hops H (envs*tasks) --max-gb G (abort when the stack's RSS passes G GB; 16)
 *        --timeout S (per phase, 900) --no-sweep (do not tick the lease sweeper, see below)
 *        --skip-engine / --skip-raw / --skip-floor --floor-round-trips R (14) --task-ms MS (0)
 *        --health (also: load a generated config of the same environments with --integrations
 *        integrations each (50: the specification's 10 x 50), provision every environment with the
 *        real drivers, then time three complete health assessments of every integration)
 *        --integrations I (50, for --health) --port-offset P (20: the bench stack's ports)
 *        --stack-name S ("bench": the stack's directory under .stack/, so two benches never share one)
 * The stack always stops on exit, failure or Ctrl-C; the firebase-tools output goes to
 * .stack/bench/firebase-tools.log.
 *
 * Cloud Scheduler has no emulator (DESIGN.md), so the scheduled sweeper never fires on its own
 * locally. Like Cloud Scheduler's "every 1 minutes", the bench POSTs /jobs/sweep once a minute
 * while the engine runs and reports what each sweep found (work the sweeper had to rescue is
 * itself a finding). --no-sweep turns that off.
 */
import { spawn, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { randomBytes } from "node:crypto";
import type { PubSub } from "@google-cloud/pubsub";
import type { Firestore } from "firebase-admin/firestore";
// Run through tsx (npm run bench), so the engine's own names come from its TypeScript source.
import { orchestrationConfigSchema } from "../functions/src/domain/config-schema.js";
import { TERMINAL_DEPLOYMENT_STATUSES } from "../functions/src/domain/engine-model.js";
import { INTEGRATION_KINDS } from "../functions/src/domain/integrations.js";
import { emulatorToken } from "./lib/auth.js";
import { scaleConfig } from "./lib/scale-config.js";
import {
  buildFunctions,
  firebaseArgs,
  firebaseBin,
  portsFree,
  prepareStack,
  repoRoot,
  reportError,
  StackSetupError,
  stackEnv,
  stackUrls,
  stackWorkDir,
  waitForStack,
  type Stack,
} from "./lib/stack.js";

const delay = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const GB = 1024 ** 3;
const fmtGb = (bytes: number) => `${(bytes / GB).toFixed(2)} GB`;
const fmtS = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

interface BenchOptions {
  envs: number;
  tasks: number;
  concurrency: number;
  hops: number;
  maxGb: number;
  timeout: number;
  sweep: boolean;
  engine: boolean;
  raw: boolean;
  /** The floor phase: raw hops that each make the engine's Firestore round trips per task. */
  floor: boolean;
  /** Sequential Firestore round trips of one floor hop (what `npx tsx bench/hot-path.ts` counts per engine task). */
  floorRoundTrips: number;
  health: boolean;
  /** Integrations of each environment the health phase provisions and checks. */
  integrations: number;
  /** Port offset of the bench's stack. */
  portOffset: number;
  /** Name of the bench's stack (its directory under .stack/). */
  stackName: string;
  /** How long each simulated task takes (default 0: the engine's own cost alone). */
  taskMs: number;
  /** Concurrency of each environment: the total spread over the environments. */
  perEnv: number;
}

type NumericOption =
  | "envs"
  | "tasks"
  | "concurrency"
  | "hops"
  | "maxGb"
  | "timeout"
  | "integrations"
  | "portOffset"
  | "taskMs"
  | "floorRoundTrips";

// ---------------------------------------------------------------------------------------------
// Flags

function parseFlags(argv: readonly string[]): BenchOptions {
  const opts: Omit<BenchOptions, "hops" | "perEnv"> & { hops: number | null } = {
    envs: 10,
    tasks: 50,
    // 100 is the issue's aim; on this machine's Functions emulator (one ~170 MB worker per
    // concurrent invocation) it needs far more than 8 GB, so the default is what fits.
    concurrency: 20,
    hops: null,
    maxGb: 16,
    timeout: 900,
    sweep: true,
    engine: true,
    raw: true,
    floor: true,
    floorRoundTrips: 14,
    health: false,
    integrations: 50,
    portOffset: 20,
    stackName: "bench",
    taskMs: 0,
  };
  const numeric: Record<string, NumericOption> = {
    "--envs": "envs",
    "--tasks": "tasks",
    "--concurrency": "concurrency",
    "--hops": "hops",
    "--max-gb": "maxGb",
    "--timeout": "timeout",
    "--integrations": "integrations",
    "--port-offset": "portOffset",
    "--task-ms": "taskMs",
    "--floor-round-trips": "floorRoundTrips",
  };
  for (let i = 0; i < argv.length; i += 1) {
    let arg = argv[i]!;
    let value: string | undefined;
    if (arg.includes("=")) [arg = "", value] = arg.split("=", 2);
    const key = numeric[arg];
    if (arg === "--no-sweep") opts.sweep = false;
    else if (arg === "--skip-engine") opts.engine = false;
    else if (arg === "--skip-raw") opts.raw = false;
    else if (arg === "--skip-floor") opts.floor = false;
    else if (arg === "--health") opts.health = true;
    else if (arg === "--stack-name") {
      value ??= argv[++i];
      if (!value || !/^[a-z][a-z0-9-]{0,30}$/.test(value))
        throw new StackSetupError(`--stack-name needs a lowercase name, got "${value}"`);
      opts.stackName = value;
    } else if (arg === "--help" || arg === "-h") {
      console.log(
        "usage: npm run bench -- [--envs N] [--tasks M] [--concurrency C] [--hops H] [--max-gb G] [--timeout S] [--no-sweep] [--skip-engine] [--skip-raw] [--skip-floor] [--floor-round-trips R] [--health] [--integrations I] [--port-offset P] [--stack-name S] [--task-ms MS]",
      );
      process.exit(0);
    } else if (key !== undefined) {
      value ??= argv[++i];
      const n = Number(value);
      if (!Number.isFinite(n) || n <= 0)
        throw new StackSetupError(`${arg} needs a positive number, got "${value}"`);
      opts[key] = n;
    } else throw new StackSetupError(`Unknown flag "${arg}"; try --help`);
  }
  for (const key of [
    "envs",
    "tasks",
    "concurrency",
    "hops",
    "integrations",
    "portOffset",
    "floorRoundTrips",
  ] as const) {
    if (opts[key] !== null && !Number.isInteger(opts[key]))
      throw new StackSetupError(
        `${Object.keys(numeric).find((flag) => numeric[flag] === key) ?? key} must be a whole number`,
      );
  }
  if (opts.floorRoundTrips > 200) throw new StackSetupError("--floor-round-trips is at most 200");
  if (opts.envs > 50) throw new StackSetupError("--envs is at most 50 (the config schema's limit)");
  if (opts.envs > 30)
    throw new StackSetupError("--envs is at most 30 here (one Firestore `in` query watches them)");
  if (opts.tasks > 1000) throw new StackSetupError("--tasks is at most 1000");
  if (opts.integrations < INTEGRATION_KINDS.length)
    throw new StackSetupError(`--integrations is at least ${INTEGRATION_KINDS.length} (one of each kind)`);
  return {
    ...opts,
    hops: opts.hops ?? opts.envs * opts.tasks,
    perEnv: Math.min(100, Math.max(1, Math.ceil(opts.concurrency / opts.envs))),
  };
}

// ---------------------------------------------------------------------------------------------
// Memory: RSS summed over the firebase-tools process tree, from /proc

function readProcs(): Map<number, { ppid: number; start: string | undefined }> {
  const procs = new Map<number, { ppid: number; start: string | undefined }>();
  for (const entry of fs.readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${entry}/stat`, "utf8");
      const rest = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      procs.set(Number(entry), { ppid: Number(rest[1]), start: rest[19] });
    } catch {
      // gone
    }
  }
  return procs;
}

function rssBytes(pid: number): number {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, "utf8"));
    return m ? Number(m[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

function cmdline(pid: number): string {
  try {
    return fs.readFileSync(`/proc/${pid}/cmdline`, "utf8").replaceAll("\0", " ");
  } catch {
    return "";
  }
}

/** The function a Functions-emulator worker serves (its FUNCTION_TARGET), or "?" when unreadable. */
function functionTarget(pid: number): string {
  try {
    const env = fs.readFileSync(`/proc/${pid}/environ`, "utf8").split("\0");
    const target = env.find((kv) => kv.startsWith("FUNCTION_TARGET="));
    return target ? target.slice("FUNCTION_TARGET=".length) : "?";
  } catch {
    return "?";
  }
}

function memAvailableBytes(): number {
  const m = /MemAvailable:\s+(\d+) kB/.exec(fs.readFileSync("/proc/meminfo", "utf8"));
  return m ? Number(m[1]) * 1024 : Infinity;
}

/** One sample of the stack's memory: RSS summed by kind of process. */
interface MemorySample {
  at: number;
  /** What the bench was doing when the sample was taken (a phase, its warm-up, or between phases). */
  label: string;
  total: number;
  java: number;
  workers: number;
  workerCount: number;
  /** Functions-emulator workers by the function they serve (FUNCTION_TARGET). */
  workersByFunction: Record<string, number>;
  other: number;
  procs: number;
}

const NO_SAMPLE: MemorySample = {
  at: 0,
  label: "none",
  total: 0,
  java: 0,
  workers: 0,
  workerCount: 0,
  workersByFunction: {},
  other: 0,
  procs: 0,
};

type Sampler = ReturnType<typeof createMemorySampler>;

/** Samples the tree under rootPid; remembers every pid it ever saw so cleanup can find strays. */
function createMemorySampler(rootPid: number) {
  const seen = new Map<
    number,
    { start: string | undefined; kind: "worker" | "java" | "other"; target: string | null }
  >();
  const state: { last: MemorySample; peak: MemorySample; phasePeak: MemorySample | null; label: string } = {
    last: NO_SAMPLE,
    peak: NO_SAMPLE,
    phasePeak: null,
    label: "startup",
  };
  const sample = (): MemorySample => {
    const procs = readProcs();
    const children = new Map<number, number[]>();
    for (const [pid, p] of procs) {
      const list = children.get(p.ppid) ?? [];
      list.push(pid);
      children.set(p.ppid, list);
    }
    const tree: number[] = [];
    const queue = procs.has(rootPid) ? [rootPid] : [];
    for (let pid = queue.shift(); pid !== undefined; pid = queue.shift()) {
      tree.push(pid);
      for (const c of children.get(pid) ?? []) queue.push(c);
    }
    // A fresh workersByFunction: the sample counts into it.
    const s: MemorySample = {
      ...NO_SAMPLE,
      at: Date.now(),
      label: state.label,
      workersByFunction: {},
      procs: tree.length,
    };
    for (const pid of tree) {
      let known = seen.get(pid);
      const start = procs.get(pid)?.start;
      // "other" is asked again: a process caught between fork and exec still shows its parent's command.
      if (!known || known.start !== start || known.kind === "other") {
        const cmd = cmdline(pid);
        const kind = /functionsEmulatorRuntime/.test(cmd)
          ? "worker"
          : /\bjava\b|\.jar\b/.test(cmd)
            ? "java"
            : "other";
        known = { start, kind, target: kind === "worker" ? functionTarget(pid) : null };
        seen.set(pid, known);
      }
      const rss = rssBytes(pid);
      s.total += rss;
      if (known.kind === "worker") {
        s.workers += rss;
        s.workerCount += 1;
        const target = known.target ?? "?";
        s.workersByFunction[target] = (s.workersByFunction[target] ?? 0) + 1;
      } else if (known.kind === "java") s.java += rss;
      else s.other += rss;
    }
    state.last = s;
    if (s.total > state.peak.total) state.peak = s;
    if (state.phasePeak && s.total > state.phasePeak.total) state.phasePeak = s;
    return s;
  };
  return {
    state,
    sample,
    /** Names what the bench does now, for the samples that follow (the overall peak says where it was). */
    setLabel(label: string): void {
      state.label = label;
    },
    startPhase(label: string): MemorySample {
      state.label = label;
      const first = sample();
      state.phasePeak = first;
      return first;
    },
    /** The phase's peak, and a sample taken now (its workers by function as the phase leaves them). */
    endPhase(): { peak: MemorySample; end: MemorySample } {
      const end = sample();
      const peak = state.phasePeak ?? end;
      state.phasePeak = null;
      state.label = `${peak.label} (draining)`;
      return { peak, end };
    },
    /** Pids seen in the tree that are still alive (same start time, so not a reused pid). */
    strays(): number[] {
      const procs = readProcs();
      return [...seen].filter(([pid, { start }]) => procs.get(pid)?.start === start).map(([pid]) => pid);
    },
  };
}

const describeMem = (s: MemorySample) =>
  `${fmtGb(s.total)} (java ${fmtGb(s.java)}, ${s.workerCount} functions workers ${fmtGb(s.workers)}, firebase-tools ${fmtGb(s.other)})`;

/** Workers by function, most first: "runTask 20, taskSettled 12". */
const describeWorkers = (s: MemorySample) =>
  Object.entries(s.workersByFunction)
    .sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]))
    .map(([fn, n]) => `${fn.replace(/^us-central1-/, "")} ${n}`)
    .join(", ") || "none";

// ---------------------------------------------------------------------------------------------
// The firebase-tools output: kept in a log file, scanned for invocations, warnings and errors

/** What the emulators' output said during one phase of the bench. */
interface PhaseOutput {
  invocations: Map<string, { count: number; totalMs: number; maxMs: number }>;
  problems: Map<string, number>;
  reloads: number;
  engineWarnings: Map<string, number>;
}

type Scanner = ReturnType<typeof createOutputScanner>;

function createOutputScanner(logFile: string) {
  const out = fs.createWriteStream(logFile);
  let phase = "startup";
  const phases = new Map<string, PhaseOutput>();
  const ensure = (name: string): PhaseOutput => {
    let found = phases.get(name);
    if (!found) {
      found = { invocations: new Map(), problems: new Map(), reloads: 0, engineWarnings: new Map() };
      phases.set(name, found);
    }
    return found;
  };
  let ready = false;
  let inFlight = 0;
  let lastActivity = Date.now();
  let buffer = "";
  const onLine = (line: string) => {
    if (line.includes("All emulators ready")) ready = true;
    const p = ensure(phase);
    const m = /Finished "([^"]+)" in ([\d.]+)ms/.exec(line);
    if (m?.[1]) {
      inFlight = Math.max(0, inFlight - 1);
      lastActivity = Date.now();
      const inv = p.invocations.get(m[1]) ?? { count: 0, totalMs: 0, maxMs: 0 };
      inv.count += 1;
      inv.totalMs += Number(m[2]);
      inv.maxMs = Math.max(inv.maxMs, Number(m[2]));
      p.invocations.set(m[1], inv);
      return;
    }
    if (/Beginning execution of/.test(line)) {
      inFlight += 1;
      lastActivity = Date.now();
      return;
    }
    if (/reloading triggers|Loaded functions definitions/i.test(line) && phase !== "startup") p.reloads += 1;
    if (/^>\s+\{/.test(line)) {
      // A structured log line of a function: count it by severity, message and reason.
      const sev = /"severity":"([A-Z]+)"/.exec(line)?.[1] ?? "?";
      const msg = /"message":"([^"]+)"/.exec(line)?.[1] ?? line.slice(0, 80);
      const reason = /"reason":"([^"]+)"/.exec(line)?.[1];
      const key = `${sev} ${msg}${reason ? ` (${reason})` : ""}`;
      p.engineWarnings.set(key, (p.engineWarnings.get(key) ?? 0) + 1);
      return;
    }
    if (
      /⚠|Failed to (start|handle)|\berror\b|exception|unhandled|timed? ?out|ECONN|DEADLINE|FATAL|heap/i.test(
        line,
      )
    ) {
      const key = line
        .replace(/\{"metadata".*$/, "")
        .replace(/[0-9a-f]{8,}|\d+(\.\d+)?ms|\d{4}-\d\d-\d\dT[\d:.]+Z/gi, "#")
        .trim()
        .slice(0, 240);
      if (!key) return;
      // firebase-tools startup chatter that is not about the bench.
      if (
        /Env variable override detected|Unable to fetch the CLI MOTD|Restricted methods|single_project_mode/.test(
          key,
        )
      )
        return;
      p.problems.set(key, (p.problems.get(key) ?? 0) + 1);
    }
  };
  const feed = (chunk: Buffer) => {
    out.write(chunk);
    buffer += chunk.toString("utf8");
    let nl: number;
    while ((nl = buffer.indexOf("\n")) >= 0) {
      onLine(buffer.slice(0, nl));
      buffer = buffer.slice(nl + 1);
    }
  };
  return {
    feed,
    isReady: () => ready,
    /**
     * Resolves once no function invocation has been running for quietMs (or after timeoutMs). An
     * invocation whose worker failed to start may print its start but never "Finished" (seen
     * under heavy load: "Failed to start functions ... Failed to load function"), so the count
     * can stay above 0: no start or finish at all for idleMs counts as quiet too.
     */
    async quiet({ quietMs = 2000, idleMs = 10_000, timeoutMs = 120_000 } = {}) {
      const start = Date.now();
      while (Date.now() - start < timeoutMs) {
        const idle = Date.now() - lastActivity;
        if ((inFlight === 0 && idle >= quietMs) || idle >= idleMs) return Date.now() - start;
        await delay(100);
      }
      return null;
    },
    lastActivity: () => lastActivity,
    setPhase(name: string) {
      phase = name;
      ensure(name);
    },
    phase: (name: string) => ensure(name),
    close: () => new Promise<void>((resolve) => out.end(resolve)),
  };
}

// ---------------------------------------------------------------------------------------------
// Stack lifecycle

/**
 * Copies the freshly built control plane (functions/package.json + lib) to .stack/bench/control-plane,
 * with functions/node_modules linked in, so that another session rebuilding functions/lib
 * mid-run neither reloads the bench's triggers nor hands a worker a half-written file.
 */
function snapshotControlPlane(stack: Stack): string {
  const dir = path.join(stackWorkDir(stack), "control-plane");
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(dir, { recursive: true });
  const functionsDir = path.join(repoRoot, "functions");
  fs.copyFileSync(path.join(functionsDir, "package.json"), path.join(dir, "package.json"));
  fs.cpSync(path.join(functionsDir, "lib"), path.join(dir, "lib"), { recursive: true });
  if (fs.existsSync(path.join(functionsDir, "node_modules")))
    fs.symlinkSync(path.join(functionsDir, "node_modules"), path.join(dir, "node_modules"));
  // The control plane finds its source root two levels above lib/ (functions/src/app.ts): there,
  // point environments/ back at the repo's.
  const envLink = path.join(path.dirname(dir), "environments");
  fs.rmSync(envLink, { force: true });
  if (fs.existsSync(path.join(repoRoot, "environments")))
    fs.symlinkSync(path.join(repoRoot, "environments"), envLink);
  return path.relative(repoRoot, dir);
}

/**
 * Rewrites the stack's generated firebase config (written by stackConfig): the control plane
 * from its snapshot, plus the bench-only codebase.
 */
function addBenchCodebase(configPath: string, controlPlaneSource: string): void {
  type Codebase = { source: string; codebase?: string; runtime?: string };
  const config = JSON.parse(fs.readFileSync(configPath, "utf8")) as { functions: Codebase | Codebase[] };
  const functions = Array.isArray(config.functions) ? config.functions : [config.functions];
  for (const f of functions) if (f.source === "functions") f.source = controlPlaneSource;
  if (!functions.some((f) => f.codebase === "bench"))
    functions.push({ source: "bench/functions", codebase: "bench", runtime: "nodejs22" });
  config.functions = functions;
  fs.writeFileSync(configPath, `${JSON.stringify(config, null, 2)}\n`);
}

/** The firebase-tools process of the bench stack, and how it ended once it has. */
interface StackHandle {
  child: ChildProcess;
  exited: { code: number | null; signal: NodeJS.Signals | null } | null;
  exitPromise: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

function startStack(stack: Stack, scanner: Scanner): StackHandle {
  const env = stackEnv(stack);
  const [node, firebase] = firebaseBin();
  const child = spawn(node, [firebase, ...firebaseArgs(stack, "emulators:start")], {
    cwd: stackWorkDir(stack),
    env,
    stdio: ["ignore", "pipe", "pipe"],
    // Its own process group: Ctrl-C reaches us, and we stop it in order (see stopStack).
    detached: true,
  });
  const handle: StackHandle = {
    child,
    exited: null,
    exitPromise: new Promise((resolve) =>
      child.on("exit", (code, signal) => {
        handle.exited = { code, signal };
        resolve(handle.exited);
      }),
    ),
  };
  child.stdout.on("data", scanner.feed);
  child.stderr.on("data", scanner.feed);
  return handle;
}

/** Pids of firebase-tools emulator processes that are not ours. */
function otherStacks(): number[] {
  const out: number[] = [];
  for (const pid of readProcs().keys()) {
    if (pid === process.pid) continue;
    const cmd = cmdline(pid);
    if (/firebase-tools\/lib\/bin\/firebase\.js emulators:(start|exec)/.test(cmd)) out.push(pid);
  }
  return out;
}

function killPids(pids: readonly number[], signal: NodeJS.Signals): void {
  for (const pid of pids) {
    try {
      process.kill(pid, signal);
    } catch {
      // already gone
    }
  }
}

/** SIGINT to firebase-tools (it stops its emulators), escalating; then any stray from its tree. */
async function stopStack(handle: StackHandle | null, sampler: Sampler | null): Promise<void> {
  if (!handle) return;
  const { child } = handle;
  const waitExit = (ms: number) => Promise.race([handle.exitPromise, delay(ms).then(() => null)]);
  if (handle.exited === null) {
    console.log(`Stopping the bench stack (firebase-tools pid ${child.pid})...`);
    child.kill("SIGINT");
    if ((await waitExit(30_000)) === null) {
      console.log("firebase-tools did not stop within 30 s; sending SIGTERM");
      child.kill("SIGTERM");
      if ((await waitExit(10_000)) === null) {
        console.log("firebase-tools did not stop; killing its process group");
        try {
          if (child.pid !== undefined) process.kill(-child.pid, "SIGKILL");
        } catch {
          // gone
        }
        await waitExit(5_000);
      }
    }
  }
  if (!sampler) return;
  let strays = sampler.strays();
  if (strays.length > 0) {
    console.log(`Stopping ${strays.length} leftover process(es) of the bench stack: ${strays.join(", ")}`);
    killPids(strays, "SIGTERM");
    for (let i = 0; i < 20 && (strays = sampler.strays()).length > 0; i += 1) await delay(250);
    killPids(strays, "SIGKILL");
  }
}

// ---------------------------------------------------------------------------------------------
// The control plane

const adminTokens = new Map<string, Promise<string>>();
/** The bench's admin on the stack's Auth emulator (one token per stack; a bench run is far shorter than its hour). */
function adminToken(stack: Stack): Promise<string> {
  let token = adminTokens.get(stack.projectId);
  if (!token) {
    token = emulatorToken({
      authHost: `${stack.hosts.auth ?? "127.0.0.1"}:${stack.ports.auth}`,
      projectId: stack.projectId,
      role: "admin",
      email: "bench@orchestrator.local",
    });
    adminTokens.set(stack.projectId, token);
  }
  return token;
}

/** Calls the control plane's API as the bench's admin; the answer is read as the shape the caller names. */
async function api<T>(stack: Stack, method: string, route: string, body?: unknown): Promise<T> {
  const url = `${stackUrls(stack).api}/api/orchestration${route}`;
  const res = await fetch(url, {
    method,
    headers: {
      Authorization: `Bearer ${await adminToken(stack)}`,
      ...(body === undefined ? {} : { "Content-Type": "application/json" }),
    },
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(120_000),
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`${method} ${route} -> ${res.status}: ${text.slice(0, 1000)}`);
  return JSON.parse(text) as T;
}

/** Provisions every bench environment with the real drivers, then times complete health assessments. */
interface BenchContext {
  db: Firestore;
  pubsub: PubSub;
  stack: Stack;
  opts: BenchOptions;
  sampler: Sampler;
  guard: () => void;
}

interface Started {
  deployment_id: string;
}

interface HealthAnswer {
  system_health: { duration_ms: number; integrations: number };
  integration_status: { mode: string; health: string }[];
}

async function runHealth(ctx: BenchContext) {
  const { stack, opts } = ctx;
  const config = healthConfig(opts);
  const loaded = await api<{ environments: string[] }>(stack, "POST", "/config", config);
  console.log(
    `\nHealth: loaded a generated config of ${loaded.environments.length} environments x ${opts.integrations} integrations (instances of a kind included); provisioning every one with the real drivers, then three complete health checks`,
  );
  const t0 = Date.now();
  const posted = await Promise.all(
    Array.from({ length: opts.envs }, (_, i) =>
      api<Started>(stack, "POST", `/environments/bench-${i}/provision`),
    ),
  );
  const ids = posted.map((p) => p.deployment_id);
  const outcomes: Record<string, number> = {};
  let lastLine = 0;
  let nextSweep = Date.now() + 60_000;
  for (;;) {
    const views = await Promise.all(
      ids.map((id) => api<{ deployment: { status: string } }>(stack, "GET", `/deployments/${id}`)),
    );
    const statuses = views.map((v) => v.deployment.status);
    if (statuses.every(isTerminal)) {
      for (const status of statuses) outcomes[status] = (outcomes[status] ?? 0) + 1;
      break;
    }
    // As in the engine phase: the sweep Cloud Scheduler would run rescues work a lost invocation left.
    if (opts.sweep && Date.now() >= nextSweep) {
      nextSweep += 60_000;
      await api<Record<string, unknown>>(stack, "POST", "/jobs/sweep").then(
        (result) => console.log(`  scheduled sweep -> ${JSON.stringify(result)}`),
        (err: unknown) => console.log(`  scheduled sweep failed: ${(err as Error).message}`),
      );
    }
    if (Date.now() - lastLine > 10_000) {
      lastLine = Date.now();
      console.log(
        `  ${fmtS(Date.now() - t0)}: ${statuses.filter(isTerminal).length}/${ids.length} provisioning deployments done`,
      );
    }
    if (Date.now() - t0 > opts.timeout * 1000) throw new Error("provisioning did not finish in time");
    await delay(1000);
  }
  const provisionMs = Date.now() - t0;
  const runs: number[] = [];
  let last = await api<HealthAnswer>(stack, "POST", "/jobs/health");
  runs.push(last.system_health.duration_ms);
  for (let i = 1; i < 3; i += 1) {
    last = await api<HealthAnswer>(stack, "POST", "/jobs/health");
    runs.push(last.system_health.duration_ms);
  }
  const statuses: Record<string, number> = {};
  for (const row of last.integration_status)
    statuses[`${row.mode}/${row.health}`] = (statuses[`${row.mode}/${row.health}`] ?? 0) + 1;
  const sorted = [...runs].sort((a, b) => a - b);
  return {
    environments: opts.envs,
    provisioned: JSON.stringify(outcomes),
    provisionMs,
    integrations: last.system_health.integrations,
    runs,
    median: sorted[1],
    statuses,
  };
}

/** The repository's base section, so the drivers find the rules files and sources it names. */
function repositoryBase() {
  const text = fs.readFileSync(path.join(repoRoot, "orchestration.json"), "utf8");
  return orchestrationConfigSchema.parse(JSON.parse(text)).base;
}

/**
 * The engine phases' config: the bench environments declare the analytics instances the
 * simulated deployments name (each its own dataset, as the config requires of two instances).
 */
function benchConfig(opts: BenchOptions) {
  const names = [...taskNames("w", Math.min(opts.perEnv, opts.tasks)), ...taskNames("t", opts.tasks)];
  return {
    version: 1,
    base: { ...repositoryBase(), concurrency: opts.perEnv },
    environments: Array.from({ length: opts.envs }, (_, i) => ({
      name: `bench-${i}`,
      type: "development",
      project_id: `demo-bench-${i}`,
      mode: "emulated",
      concurrency: opts.perEnv,
      integrations: [...INTEGRATION_KINDS, ...names],
      overrides: Object.fromEntries(
        names.map((name) => [name, { dataset: `bench_${name.split(":")[1] ?? ""}` }]),
      ),
    })),
  };
}

/** The health phase's config: the same environments, generated at --integrations each. */
function healthConfig(opts: BenchOptions) {
  return scaleConfig({
    base: { ...repositoryBase(), concurrency: opts.perEnv },
    environments: opts.envs,
    integrations: opts.integrations,
    prefix: "bench",
    concurrency: opts.perEnv,
  });
}

/** Integration names with no dependencies between them: instances of one kind. */
const taskNames = (prefix: string, n: number) =>
  Array.from({ length: n }, (_, i) => `analytics:${prefix}${String(i).padStart(3, "0")}`);

/**
 * A deployment request document, as a tool with the Admin SDK writes one (DESIGN.md: creating a
 * `deployments` document with status `requested` starts a deployment, exactly as POST /deploy
 * does; the deployment trigger validates, authorizes `system:` requesters and plans it). The id
 * has the API's form (environment, time, random).
 */
function deploymentRequest(environment: string, names: string[], taskMs: number) {
  const id = `${environment}-${Date.now().toString(36)}-${randomBytes(4).toString("hex")}`;
  return {
    id,
    doc: {
      status: "requested",
      environment,
      integrations: names,
      configuration: { driver: "simulated", simulate: { "*": { latency_ms: taskMs } } },
      requested_by: "system:bench",
      created_at: new Date(),
      correlation_id: id,
    },
  };
}

const isTerminal = (status: string) => (TERMINAL_DEPLOYMENT_STATUSES as readonly string[]).includes(status);

/** A Firestore timestamp, a Date or an ISO text, in ms; null for none. */
function toMs(t: unknown): number | null {
  if (!t) return null;
  if (typeof t === "object" && "toDate" in t && typeof t.toDate === "function")
    return (t.toDate as () => Date)().getTime();
  return new Date(t as string | Date).getTime();
}

/** ms between two instants, or NaN when one is missing (quantiles skip it). */
const between = (from: unknown, to: unknown) => (toMs(to) ?? NaN) - (toMs(from) ?? NaN);

function quantiles(values: number[]): string {
  const sorted = values.filter(Number.isFinite).sort((a, b) => a - b);
  if (sorted.length === 0) return "n/a";
  const q = (p: number) => sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]!;
  return `p50 ${fmtS(q(0.5))}, p90 ${fmtS(q(0.9))}, max ${fmtS(sorted[sorted.length - 1]!)}`;
}

/** The fields of the engine's deployment and task documents that the bench reads. */
interface DeploymentDoc {
  id: string;
  status: string;
  task_ids?: string[];
  created_at?: unknown;
  started_at?: unknown;
  completed_at?: unknown;
}

interface TaskDoc {
  id: string;
  status: string;
  attempt?: number;
  retry_count?: number;
  ready_at?: unknown;
  started_at?: unknown;
  completed_at?: unknown;
  error_message?: string | null;
  reason?: string | null;
}

interface EngineRun {
  ms: number;
  postedMs: number;
  t0: number;
  deployments: DeploymentDoc[];
  tasks: TaskDoc[];
  sweeps: Record<string, unknown>[];
}

/**
 * Requests deployments by writing their request documents (each its own write, all at once, as
 * that many people or tools would) and waits for all of them to end, as the API's callers do: by
 * the deployment documents' terminal status. Progress: one line a second. Returns
 * { ms, deployments, tasks, sweeps } with ms measured from the first write to the last completed_at.
 */
async function runEngine(
  ctx: BenchContext,
  {
    label,
    envs,
    tasksPerEnv,
    prefix,
    progress = true,
  }: { label: string; envs: number; tasksPerEnv: number; prefix: string; progress?: boolean },
): Promise<EngineRun> {
  const { db, stack, opts, sampler, guard } = ctx;
  const t0 = Date.now();
  const requests = Array.from({ length: envs }, (_, i) =>
    deploymentRequest(`bench-${i}`, taskNames(prefix, tasksPerEnv), opts.taskMs),
  );
  await Promise.all(requests.map((r) => db.collection("deployments").doc(r.id).create(r.doc)));
  const ids = requests.map((r) => r.id);
  const total = envs * tasksPerEnv;
  const postedMs = Date.now() - t0;
  const { FieldPath } = await import("firebase-admin/firestore");
  const tasksCol = db.collection("orchestration_tasks");
  const countOf = async (status: string) =>
    (await tasksCol.where("deployment_id", "in", ids).where("status", "==", status).count().get()).data()
      .count;

  const sweeps: Record<string, unknown>[] = [];
  let nextSweep = Date.now() + 60_000;
  let lastDone = -1;
  let lastChange = Date.now();
  let stallReported = 0;
  const deadline = Date.now() + opts.timeout * 1000;
  let deployments: DeploymentDoc[] = [];
  for (;;) {
    guard();
    const snap = await db.collection("deployments").where(FieldPath.documentId(), "in", ids).get();
    deployments = snap.docs.map((d) => ({ ...(d.data() as Omit<DeploymentDoc, "id">), id: d.id }));
    const ended = deployments.filter((d) => isTerminal(d.status)).length;
    if (ended === ids.length) break;
    const [blocked = 0, ready = 0, running = 0] = await Promise.all(
      ["blocked", "ready", "running"].map(countOf),
    );
    const planned = deployments.reduce((n, d) => n + (d.task_ids?.length ?? 0), 0);
    const done = planned - blocked - ready - running;
    if (done !== lastDone) {
      lastDone = done;
      lastChange = Date.now();
    }
    if (progress) {
      const m = sampler.state.last;
      console.log(
        `  ${label} ${fmtS(Date.now() - t0).padStart(7)}: tasks ${done}/${total} done (running ${running}, ready ${ready}, blocked ${blocked}, not yet planned ${total - planned}); deployments ${ended}/${ids.length} ended; stack ${fmtGb(m.total)}, ${m.workerCount} workers`,
      );
    }
    const stalledFor = Date.now() - lastChange;
    if (stalledFor < 30_000) stallReported = 0;
    else if (stalledFor - stallReported >= 30_000) {
      stallReported = stalledFor;
      console.log(
        `  ${label}: no task finished for ${fmtS(Date.now() - lastChange)} (ready ${ready}, running ${running}, blocked ${blocked}, not yet planned ${total - planned})`,
      );
    }
    if (opts.sweep && Date.now() >= nextSweep) {
      nextSweep += 60_000;
      try {
        const result = await api<Record<string, unknown>>(stack, "POST", "/jobs/sweep");
        sweeps.push({ at: Date.now() - t0, ...result });
        console.log(`  ${label}: scheduled sweep (as Cloud Scheduler would) -> ${JSON.stringify(result)}`);
      } catch (err) {
        console.log(`  ${label}: scheduled sweep failed: ${(err as Error).message}`);
      }
    }
    if (Date.now() > deadline)
      throw new StackSetupError(`${label}: not finished after ${opts.timeout} s; see the progress above`);
    await delay(1000);
  }
  const lastCompleted = Math.max(...deployments.map((d) => toMs(d.completed_at) ?? Date.now()));
  const tasksSnap = await tasksCol.where("deployment_id", "in", ids).get();
  const tasks = tasksSnap.docs.map((d) => ({ ...(d.data() as Omit<TaskDoc, "id">), id: d.id }));
  return { ms: lastCompleted - t0, postedMs, t0, deployments, tasks, sweeps };
}

function engineReport(result: EngineRun, limit: number): string[] {
  const { t0, deployments, tasks } = result;
  const statuses: Record<string, number> = {};
  for (const d of deployments) statuses[d.status] = (statuses[d.status] ?? 0) + 1;
  const taskStatuses: Record<string, number> = {};
  for (const t of tasks) taskStatuses[t.status] = (taskStatuses[t.status] ?? 0) + 1;
  const created = deployments.map((d) => between(t0, d.created_at));
  const started = deployments.map((d) => between(t0, d.started_at));
  const wait = tasks.map((t) => between(t.ready_at, t.started_at));
  const run = tasks.map((t) => between(t.started_at, t.completed_at));
  const finish = tasks.map((t) => between(t0, t.completed_at));
  const retried = tasks.filter((t) => (t.attempt ?? 0) > 1 || (t.retry_count ?? 0) > 0);
  // Tasks running at once, from their own claim and completion times: the limit is what it may reach.
  const edges = tasks
    .flatMap((t) => [
      { at: toMs(t.started_at) ?? NaN, delta: 1 },
      { at: toMs(t.completed_at) ?? NaN, delta: -1 },
    ])
    .filter((edge) => Number.isFinite(edge.at))
    .sort((a, b) => a.at - b.at || a.delta - b.delta);
  let runningNow = 0;
  let peakRunning = 0;
  for (const edge of edges) {
    runningNow += edge.delta;
    peakRunning = Math.max(peakRunning, runningNow);
  }
  const lines = [
    `tasks running at once (from their claim and completion times): peak ${peakRunning}, limit ${limit} in all`,
    `deployments: ${JSON.stringify(statuses)}; tasks: ${JSON.stringify(taskStatuses)}`,
    `request documents x${deployments.length} written (Admin SDK, status requested) within ${fmtS(result.postedMs)}; created_at ${quantiles(created)} after the first write; planned (status running) ${quantiles(started)}`,
    `task wait, ready -> claimed: ${quantiles(wait)}`,
    `task run, claimed -> completed (driver + outcome transaction): ${quantiles(run)}`,
    `task completion time since the first request write: ${quantiles(finish)}`,
  ];
  const [firstRetried] = retried;
  if (firstRetried)
    lines.push(
      `tasks that needed more than one attempt: ${retried.length} (e.g. ${firstRetried.id}: ${firstRetried.error_message ?? ""})`,
    );
  const failed = tasks.filter((t) => t.status !== "succeeded");
  const [firstFailed] = failed;
  if (firstFailed)
    lines.push(
      `tasks not succeeded: ${failed.length} (e.g. ${firstFailed.id} ${firstFailed.status}: ${firstFailed.error_message ?? firstFailed.reason ?? ""})`,
    );
  if (result.sweeps.length > 0)
    lines.push(`sweeps ticked: ${result.sweeps.map((s) => JSON.stringify(s)).join(" ")}`);
  return lines;
}

// ---------------------------------------------------------------------------------------------
// Raw hops

/** A measured phase of hops: time, hops landed, and the stack's memory at its start, peak and end. */
interface HopPhase {
  ms: number;
  count: number;
  base: MemorySample;
  peak: MemorySample;
  end: MemorySample;
}

async function runHops(
  ctx: BenchContext,
  {
    label,
    count,
    inFlight,
    progress = true,
    roundTrips = 0,
  }: {
    label: string;
    count: number;
    inFlight: number;
    progress?: boolean;
    /** 0: the raw hop (one write); R > 0: the floor hop (R round trips); benchHop makes both. */
    roundTrips?: number;
  },
): Promise<{ ms: number; count: number }> {
  const { db, pubsub, opts, sampler, guard } = ctx;
  const run = `${label}-${Date.now().toString(36)}-${randomBytes(3).toString("hex")}`;
  const topic = pubsub.topic("bench-hops");
  const landed = new Set<string>();
  let published = 0;
  let t0: number | null = null;
  let lastAt: number | null = null;
  let failure: unknown = null;
  let resolveDone = () => {};
  const done = new Promise<void>((resolve) => (resolveDone = resolve));
  const publishNext = () => {
    while (published < count && published - landed.size < inFlight) {
      const id = published;
      published += 1;
      t0 ??= Date.now();
      topic
        .publishMessage({ json: roundTrips > 0 ? { id, run, roundTrips } : { id, run } })
        .catch((err: unknown) => {
          failure ??= err;
          resolveDone();
        });
    }
  };
  const unsubscribe = db
    .collection("bench_hops")
    .where("run", "==", run)
    .onSnapshot(
      (snap) => {
        for (const change of snap.docChanges()) {
          if (change.type === "added") landed.add(change.doc.id);
        }
        if (landed.size > 0) lastAt = Date.now();
        if (landed.size >= count) resolveDone();
        else publishNext();
      },
      (err) => {
        failure ??= err;
        resolveDone();
      },
    );
  // The listener's first (empty) snapshot starts publishing; also start here in case it is late.
  publishNext();
  const deadline = Date.now() + opts.timeout * 1000;
  let finished = false;
  void done.then(() => (finished = true));
  while (!finished) {
    await Promise.race([done, delay(1000)]);
    if (finished) break;
    guard();
    if (progress) {
      const m = sampler.state.last;
      console.log(
        `  ${label} ${fmtS(Date.now() - (t0 ?? Date.now())).padStart(7)}: hops ${landed.size}/${count} landed, ${published - landed.size} in flight; stack ${fmtGb(m.total)}, ${m.workerCount} workers`,
      );
    }
    if (Date.now() > deadline) {
      unsubscribe();
      throw new StackSetupError(`${label}: ${landed.size}/${count} hops landed after ${opts.timeout} s`);
    }
  }
  unsubscribe();
  if (failure)
    throw failure instanceof Error ? failure : new Error(`a hop failed: ${JSON.stringify(failure)}`);
  // Server-side time of the last write is more exact than the listener's.
  const snap = await db.collection("bench_hops").where("run", "==", run).get();
  if (roundTrips > 0) {
    // A floor hop says how many round trips it made (a retried transaction makes more).
    const made = snap.docs.map((d) => Number(d.get("round_trips")));
    const off = made.filter((n) => n !== roundTrips);
    if (made.some((n) => !Number.isFinite(n) || n < roundTrips))
      throw new StackSetupError(
        `${label}: a floor hop made fewer than ${roundTrips} round trips (${JSON.stringify(off.slice(0, 5))}); is bench/functions current?`,
      );
    if (off.length > 0)
      console.log(
        `  ${label}: ${off.length} hop(s) made more than ${roundTrips} round trips (transactions retried): up to ${Math.max(...off)}`,
      );
  }
  const lastWrite = Math.max(...snap.docs.map((d) => toMs(d.get("at")) ?? NaN));
  const end = Number.isFinite(lastWrite) ? lastWrite : (lastAt ?? Date.now());
  return { ms: end - (t0 ?? end), count: landed.size };
}

/** Waits until no function runs, so one phase's leftovers do not run into the next one's time. */
async function settle(scanner: Scanner, what: string): Promise<number | null> {
  const waited = await scanner.quiet();
  if (waited === null) console.log(`Functions were still running 120 s after ${what}; measuring anyway`);
  else if (waited > 2500) console.log(`Waited ${fmtS(waited)} for ${what} to drain before measuring`);
  return waited;
}

// ---------------------------------------------------------------------------------------------

async function main(): Promise<void> {
  const opts = parseFlags(process.argv.slice(2));
  if (process.platform !== "linux")
    throw new StackSetupError("The bench reads memory from /proc, so it runs on Linux only");
  console.log(
    `Bench: ${opts.envs} environments x ${opts.tasks} tasks (concurrency ${opts.perEnv} each, ${opts.perEnv * opts.envs} in total) vs ${opts.hops} raw hops (${opts.concurrency} in flight); ${os.cpus().length} CPUs, ${fmtGb(os.totalmem())} RAM, ${fmtGb(memAvailableBytes())} available`,
  );

  const stack = prepareStack({ name: opts.stackName, portOffset: opts.portOffset });
  await portsFree(stack);
  await buildFunctions();
  addBenchCodebase(stack.configPath, snapshotControlPlane(stack));
  const others = otherStacks();
  if (others.length > 0)
    console.log(
      `NOTE: ${others.length} other emulator stack(s) run on this machine (firebase-tools pids ${others.join(", ")}); they share the CPUs and disturb the numbers. Load average now: ${os
        .loadavg()
        .map((l) => l.toFixed(1))
        .join(" ")}`,
    );

  const logFile = path.join(stackWorkDir(stack), "firebase-tools.log");
  const scanner = createOutputScanner(logFile);
  let handle: StackHandle | null = null;
  let sampler: Sampler | null = null;
  let sampleTimer: NodeJS.Timeout | null = null;
  let stopping: Promise<void> | null = null;
  let memoryError: string | null = null;
  const cleanup = async () => {
    stopping ??= (async () => {
      await stopStack(handle, sampler);
      if (sampleTimer) clearInterval(sampleTimer);
      await scanner.close();
    })();
    return stopping;
  };
  // Last resort on an unexpected exit: kill whatever of the stack is still alive.
  process.on("exit", () => {
    if (handle && handle.exited === null) {
      try {
        if (handle.child.pid !== undefined) process.kill(-handle.child.pid, "SIGKILL");
      } catch {
        // gone
      }
    }
    if (sampler) killPids(sampler.strays(), "SIGKILL");
  });
  let interrupted = false;
  for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"] as const) {
    process.on(signal, () => {
      if (interrupted) {
        console.log(`\n${signal} again: still stopping the stack...`);
        return;
      }
      interrupted = true;
      console.log(`\n${signal}: stopping the bench stack`);
      void cleanup().finally(() => process.exit(130));
    });
  }

  try {
    console.log(
      `Starting stack "${opts.stackName}" (project ${stack.projectId}, port offset ${stack.portOffset}); firebase-tools output: ${path.relative(repoRoot, logFile)}`,
    );
    const running = startStack(stack, scanner);
    handle = running;
    const memory = createMemorySampler(running.child.pid ?? -1);
    sampler = memory;
    sampleTimer = setInterval(() => {
      const s = memory.sample();
      if (!memoryError && s.total > opts.maxGb * GB)
        memoryError = `the stack's RSS reached ${describeMem(s)}, over --max-gb ${opts.maxGb}`;
      if (!memoryError && memAvailableBytes() < 1.5 * GB)
        memoryError = `the machine has less than 1.5 GB available (stack at ${describeMem(s)})`;
    }, 250);
    memory.sample();
    const guard = () => {
      if (memoryError)
        throw new StackSetupError(
          `Memory blew: ${memoryError}; try fewer with e.g. --concurrency 50 or --envs 5 --tasks 50`,
        );
      if (running.exited)
        throw new StackSetupError(
          `firebase-tools exited (${JSON.stringify(running.exited)}); see ${logFile}`,
        );
    };

    const started = Date.now();
    const ready = await waitForStack(stack, {
      isAlive: () => running.exited === null,
      isReady: scanner.isReady,
    });
    if (!ready.api.ok) throw new StackSetupError(`the api function is not available: ${ready.api.detail}`);
    // The api answers before every codebase is loaded; "All emulators ready" means triggers are in.
    for (const until = Date.now() + 120_000; !scanner.isReady(); await delay(100)) {
      guard();
      if (Date.now() > until) throw new StackSetupError('firebase-tools never said "All emulators ready"');
    }
    console.log(`Stack up in ${fmtS(Date.now() - started)}; ${describeMem(memory.sample())}`);

    // Clients for the stack's emulators (env first, then the SDKs read it).
    Object.assign(process.env, stackEnv(stack), { METADATA_SERVER_DETECTION: "none" });
    const { initializeApp } = await import("firebase-admin/app");
    const { getFirestore } = await import("firebase-admin/firestore");
    const { PubSub } = await import("@google-cloud/pubsub");
    const db = getFirestore(initializeApp({ projectId: stack.projectId }, "bench"));
    const pubsub = new PubSub({ projectId: stack.projectId });
    const ctx: BenchContext = { db, pubsub, stack, opts, sampler: memory, guard };

    const loaded = await api<{ environments: string[] }>(stack, "POST", "/config", benchConfig(opts));
    console.log(`Config loaded: ${loaded.environments.length} environments, concurrency ${opts.perEnv} each`);

    // Each phase is warmed up just before it, at its measured concurrency: the Functions emulator
    // starts one worker per concurrent invocation of a function, so a warm-up of one would leave the
    // measured run paying for cold workers (about a second each) that the steady state never pays.
    // Warming each phase only before it keeps a phase's memory its own: the workers of a function
    // no earlier phase invoked do not exist yet (earlier phases' workers stay, idle, and are counted).
    const results: {
      engine?: EngineRun & { base: MemorySample; peak: MemorySample; end: MemorySample; tailMs?: number };
      raw?: HopPhase;
      floor?: HopPhase;
      health?: Awaited<ReturnType<typeof runHealth>>;
    } = {};
    const endOfPhase = (name: string, end: MemorySample, peak: MemorySample) =>
      console.log(
        `  ${name} phase memory: peak ${describeMem(peak)}; workers at the peak: ${describeWorkers(peak)}; at the end: ${describeWorkers(end)}`,
      );
    if (opts.engine) {
      scanner.setPhase("engine-warmup");
      memory.setLabel("engine warm-up");
      const warm = await runEngine(ctx, {
        label: "warm-up",
        envs: opts.envs,
        tasksPerEnv: Math.min(opts.perEnv, opts.tasks),
        prefix: "w",
        progress: false,
      });
      console.log(
        `Engine warm-up: ${warm.deployments.length} deployments of ${warm.tasks.length} tasks in ${fmtS(warm.ms)}; ${describeMem(memory.sample())}`,
      );
      await settle(scanner, "the engine's warm-up");
      scanner.setPhase("engine");
      console.log(
        `\nEngine: ${opts.envs} deployments x ${opts.tasks} tasks, simulated driver with zero latency; requested by writing ${opts.envs} request documents (status requested, Admin SDK) to Firestore, not through the API`,
      );
      const base = memory.startPhase("engine");
      const r = await runEngine(ctx, {
        label: "engine",
        envs: opts.envs,
        tasksPerEnv: opts.tasks,
        prefix: "t",
      });
      const { peak, end } = memory.endPhase();
      results.engine = { ...r, base, peak, end };
      console.log(`Engine: ${opts.envs * opts.tasks} tasks in ${fmtS(r.ms)}`);
      endOfPhase("engine", end, peak);
      await settle(scanner, "the engine's messages");
      results.engine.tailMs = scanner.lastActivity() - (results.engine.t0 + results.engine.ms);
    }
    const hopPhase = async (name: "raw" | "floor", roundTrips: number, what: string): Promise<HopPhase> => {
      scanner.setPhase(`${name}-warmup`);
      memory.setLabel(`${name} warm-up`);
      const warm = await runHops(ctx, {
        label: `${name}-warm`,
        count: opts.concurrency,
        inFlight: opts.concurrency,
        progress: false,
        roundTrips,
      });
      console.log(
        `\n${what} warm-up: ${warm.count} hops in ${fmtS(warm.ms)}; ${describeMem(memory.sample())}`,
      );
      await settle(scanner, `the ${name} warm-up`);
      scanner.setPhase(name);
      console.log(`${what}: ${opts.hops} hops, ${opts.concurrency} in flight`);
      const base = memory.startPhase(name);
      const r = await runHops(ctx, { label: name, count: opts.hops, inFlight: opts.concurrency, roundTrips });
      const { peak, end } = memory.endPhase();
      console.log(`${what}: ${r.count} hops in ${fmtS(r.ms)}`);
      endOfPhase(name, end, peak);
      await settle(scanner, `the ${name} hops`);
      return { ...r, base, peak, end };
    };
    if (opts.raw)
      results.raw = await hopPhase(
        "raw",
        0,
        "Raw hops (publish -> Pub/Sub-triggered benchHop -> one Firestore write)",
      );
    if (opts.floor)
      results.floor = await hopPhase(
        "floor",
        opts.floorRoundTrips,
        `Raw hops with the engine's round trips (publish -> the same benchHop -> ${opts.floorRoundTrips} sequential Firestore round trips, the last the landing write)`,
      );
    if (opts.health) {
      memory.setLabel("health");
      results.health = await runHealth(ctx);
    }
    scanner.setPhase("after");

    // Report
    console.log("\n==== Bench results ====");
    const load = os
      .loadavg()
      .map((l) => l.toFixed(1))
      .join(" ");
    console.log(
      `Machine: ${os.cpus().length} CPUs, ${fmtGb(os.totalmem())} RAM, load average now ${load}. Stack "${opts.stackName}", ${opts.envs} environments x concurrency ${opts.perEnv}.`,
    );
    const phaseMemory = (p: { base: MemorySample; peak: MemorySample; end: MemorySample }) =>
      `memory at start ${fmtGb(p.base.total)}, peak ${describeMem(p.peak)}; workers at the peak: ${describeWorkers(p.peak)}`;
    if (results.engine) {
      const e = results.engine;
      console.log(
        `Engine:   ${opts.envs * opts.tasks} tasks in ${fmtS(e.ms)} (${((opts.envs * opts.tasks) / (e.ms / 1000)).toFixed(1)} tasks/s); requested by Firestore document writes`,
      );
      for (const line of engineReport(e, opts.concurrency)) console.log(`          ${line}`);
      console.log(
        `          ${phaseMemory(e)} (target: at most 4 GB) -> ${e.peak.total <= 4 * GB ? "met" : "NOT met"}`,
      );
      if ((e.tailMs ?? 0) > 1000)
        console.log(
          `          functions kept running ${fmtS(e.tailMs ?? 0)} after the last deployment finished (late or duplicate task messages)`,
        );
    }
    if (results.raw) {
      const r = results.raw;
      console.log(
        `Raw hops: ${r.count} hops in ${fmtS(r.ms)} (${(r.count / (r.ms / 1000)).toFixed(1)} hops/s)`,
      );
      console.log(`          ${phaseMemory(r)}`);
    }
    if (results.floor) {
      const f = results.floor;
      console.log(
        `Floor:    ${f.count} raw hops with the engine's ${opts.floorRoundTrips} round trips each in ${fmtS(f.ms)} (${(f.count / (f.ms / 1000)).toFixed(1)} hops/s)`,
      );
      console.log(`          ${phaseMemory(f)}`);
    }
    const ratios = {
      engine_to_raw: results.engine && results.raw ? results.engine.ms / results.raw.ms : null,
      engine_to_floor: results.engine && results.floor ? results.engine.ms / results.floor.ms : null,
      floor_to_raw: results.floor && results.raw ? results.floor.ms / results.raw.ms : null,
    };
    if (ratios.engine_to_raw !== null)
      console.log(
        `Ratio engine / raw: ${ratios.engine_to_raw.toFixed(2)}x (goal: 2x) -> ${ratios.engine_to_raw <= 2 ? "met" : "NOT met"}`,
      );
    if (ratios.floor_to_raw !== null)
      console.log(
        `Ratio floor / raw: ${ratios.floor_to_raw.toFixed(2)}x: what ${opts.floorRoundTrips} Firestore round trips a hop cost with no engine logic${ratios.floor_to_raw > 2 ? "; so anything making them is above the 2x goal here" : ""}`,
      );
    if (ratios.engine_to_floor !== null)
      console.log(
        `Ratio engine / floor: ${ratios.engine_to_floor.toFixed(2)}x: the engine's time beyond what its round-trip count alone explains (1x: all of it is round trips)`,
      );
    if (results.health) {
      const h = results.health;
      console.log(
        `Health:   provisioned ${h.environments} environments (${h.provisioned}) in ${fmtS(h.provisionMs)}; complete assessments of ${h.integrations} integrations: ${h.runs.map((ms) => `${ms} ms`).join(", ")} (median ${h.median} ms; target 1 s for 10 x 50, spec 30 s)`,
      );
      console.log(`          statuses: ${JSON.stringify(h.statuses)}`);
    }
    const peak = memory.state.peak;
    console.log(
      `Overall peak stack memory (any phase, idle workers of earlier phases included), during ${peak.label}: ${describeMem(peak)}; workers: ${describeWorkers(peak)}`,
    );
    const measuredAt = new Date().toISOString();
    const file = path.join(repoRoot, "out", "bench", `bench-${measuredAt.replace(/[:.]/g, "-")}.json`);
    fs.mkdirSync(path.dirname(file), { recursive: true });
    const gb = (bytes: number) => Number((bytes / GB).toFixed(2));
    const memoryJson = (p: { base: MemorySample; peak: MemorySample; end: MemorySample }) => ({
      start_gb: gb(p.base.total),
      peak_gb: gb(p.peak.total),
      peak_workers: p.peak.workerCount,
      workers_by_function_at_peak: p.peak.workersByFunction,
      workers_by_function_at_end: p.end.workersByFunction,
    });
    const summary = {
      measured_at: measuredAt,
      machine: {
        cpus: os.cpus().length,
        ram_gb: gb(os.totalmem()),
        load_average_at_end: os.loadavg().map((l) => Number(l.toFixed(2))),
      },
      options: opts,
      phase_order: [
        "engine warm-up",
        "engine",
        "raw warm-up",
        "raw",
        "floor warm-up",
        "floor",
        "health",
      ].filter(
        (name) =>
          (opts.engine || !name.startsWith("engine")) &&
          (opts.raw || !name.startsWith("raw")) &&
          (opts.floor || !name.startsWith("floor")) &&
          (opts.health || name !== "health"),
      ),
      engine: results.engine && {
        tasks: opts.envs * opts.tasks,
        ms: results.engine.ms,
        requested_by: "Firestore request documents (status requested, Admin SDK, requested_by system:bench)",
        report: engineReport(results.engine, opts.concurrency),
        ...memoryJson(results.engine),
      },
      raw: results.raw && {
        hops: results.raw.count,
        ms: results.raw.ms,
        ...memoryJson(results.raw),
      },
      floor: results.floor && {
        hops: results.floor.count,
        round_trips_per_hop: opts.floorRoundTrips,
        ms: results.floor.ms,
        ...memoryJson(results.floor),
      },
      ratio_engine_to_raw: ratios.engine_to_raw,
      ratio_engine_to_floor: ratios.engine_to_floor,
      ratio_floor_to_raw: ratios.floor_to_raw,
      health: results.health ?? null,
      peak_stack_gb: gb(peak.total),
      peak_stack_during: peak.label,
      peak_stack_workers_by_function: peak.workersByFunction,
    };
    fs.writeFileSync(file, `${JSON.stringify(summary, null, 2)}\n`);
    console.log(`written: ${path.relative(repoRoot, file)}`);
    console.log(
      `  (RSS summed over the firebase-tools process tree, sampled every 250 ms; shared pages count once per process)`,
    );
    for (const name of ["engine-warmup", "engine", "raw-warmup", "raw", "floor-warmup", "floor"]) {
      const p = scanner.phase(name);
      const inv = [...p.invocations].map(
        ([fn, v]) =>
          `${fn.replace(/^us-central1-/, "")} x${v.count} (avg ${(v.totalMs / v.count).toFixed(0)} ms, max ${v.maxMs.toFixed(0)} ms)`,
      );
      if (inv.length) console.log(`Invocations during ${name}: ${inv.join(", ")}`);
      if (p.reloads)
        console.log(
          `  WARNING: the functions emulator reloaded its triggers ${p.reloads} time(s) during ${name} (functions/lib changed); the numbers are disturbed`,
        );
      for (const [msg, n] of p.engineWarnings) console.log(`  function log during ${name}: ${msg} x${n}`);
      for (const [msg, n] of [...p.problems].slice(0, 15))
        console.log(`  emulator output during ${name}: ${msg} x${n}`);
    }
  } finally {
    await cleanup();
  }
  const strays = sampler ? sampler.strays() : [];
  console.log(
    strays.length === 0
      ? "Stack stopped; no processes left behind."
      : `WARNING: processes left behind: ${strays.join(", ")}`,
  );
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    reportError(err);
    process.exit(1);
  },
);
