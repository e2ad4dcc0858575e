/** Runs many seeds and tallies the violations by invariant: shared by `npm run simulate` and the unit spec. */
import { fork } from "node:child_process";
import { fileURLToPath } from "node:url";
import type { InvariantName } from "./invariants.js";
import { simulate } from "./world.js";

/** What one seed's run contributes to a soak. */
export interface SeedOutcome {
  seed: number;
  /** The invariants this seed violated, each with its first detail. */
  violated: { invariant: InvariantName; detail: string }[];
  steps: number;
}

/** A soak's tally. */
export interface SoakSummary {
  runs: number;
  failingRuns: number;
  steps: number;
  /** Per invariant: how many runs violated it, and the first few seeds that did. */
  byInvariant: Map<InvariantName, { runs: number; seeds: number[]; example: string }>;
}

export const FIRST_SEEDS_KEPT = 5;

/** One seed, reduced to what a soak keeps. */
export async function runSeed(seed: number): Promise<SeedOutcome> {
  const result = await simulate(seed);
  const violated = new Map<InvariantName, string>();
  for (const violation of result.violations)
    if (!violated.has(violation.invariant)) violated.set(violation.invariant, violation.detail);
  return {
    seed,
    violated: [...violated].map(([invariant, detail]) => ({ invariant, detail })),
    steps: result.steps,
  };
}

export function emptySummary(): SoakSummary {
  return { runs: 0, failingRuns: 0, steps: 0, byInvariant: new Map() };
}

/** Adds one seed's outcome to the tally (seeds may arrive out of order from workers). */
export function tally(summary: SoakSummary, outcome: SeedOutcome): void {
  summary.runs += 1;
  summary.steps += outcome.steps;
  if (outcome.violated.length > 0) summary.failingRuns += 1;
  for (const { invariant, detail } of outcome.violated) {
    const entry = summary.byInvariant.get(invariant) ?? { runs: 0, seeds: [], example: detail };
    entry.runs += 1;
    entry.seeds.push(outcome.seed);
    entry.seeds.sort((a, b) => a - b);
    if (entry.seeds.length > FIRST_SEEDS_KEPT) entry.seeds.length = FIRST_SEEDS_KEPT;
    if (entry.seeds[0] === outcome.seed) entry.example = detail;
    summary.byInvariant.set(invariant, entry);
  }
}

/** Runs seeds `from .. from+count-1` in this process, calling `progress` after each. */
export async function soak(
  from: number,
  count: number,
  progress?: (summary: SoakSummary) => void,
): Promise<SoakSummary> {
  const summary = emptySummary();
  for (let seed = from; seed < from + count; seed++) {
    tally(summary, await runSeed(seed));
    progress?.(summary);
  }
  return summary;
}

/** The summary as lines for people: runs, violations by invariant, first failing seeds, how to replay. */
export function describeSummary(summary: SoakSummary, elapsedMs: number): string[] {
  const lines = [
    `${summary.runs} runs, ${summary.failingRuns} with violations, ${summary.steps} scheduler steps, ${(elapsedMs / 1000).toFixed(1)} s`,
  ];
  for (const [invariant, entry] of [...summary.byInvariant].sort((a, b) => b[1].runs - a[1].runs)) {
    lines.push(
      `  ${invariant}: ${entry.runs} run(s); first seeds ${entry.seeds.join(", ")}; e.g. seed ${entry.seeds[0]}: ${entry.example}`,
    );
  }
  const first = Math.min(...[...summary.byInvariant.values()].map((entry) => entry.seeds[0] ?? Infinity));
  if (Number.isFinite(first)) lines.push(`  replay: npm run simulate -- --seed ${first}`);
  return lines;
}

/** The command-line tool, whose `--worker` mode runs a slice of seeds and reports each outcome over IPC. */
const SIMULATE_SCRIPT = fileURLToPath(new URL("../../scripts/simulate.ts", import.meta.url));

/**
 * Node flags for the workers: tsx for TypeScript, and AsyncContextFrame, which makes
 * AsyncLocalStorage (how the scheduler knows the current invocation) about three times cheaper.
 */
export const WORKER_EXEC_ARGV = ["--experimental-async-context-frame", "--import", "tsx"];

/**
 * Seeds per worker process. A worker is replaced after this many: one that ran thousands of seeds
 * ran several times slower than a fresh one (measured in the README's soak section), and small
 * chunks also keep every core busy to the end.
 */
export const SEEDS_PER_WORKER = 500;

/** Runs one chunk of seeds in a fresh child process, calling `onOutcome` for each. */
function runChunk(start: number, count: number, onOutcome: (outcome: SeedOutcome) => void): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const child = fork(SIMULATE_SCRIPT, ["--worker", "--from", String(start), "--runs", String(count)], {
      execArgv: WORKER_EXEC_ARGV,
      stdio: ["ignore", "ignore", "pipe", "ipc"],
    });
    let stderr = "";
    child.stderr?.on("data", (chunk: Buffer) => {
      stderr = (stderr + chunk.toString()).slice(-4000);
    });
    child.on("message", onOutcome);
    child.on("exit", (code) =>
      code === 0
        ? resolve()
        : reject(new Error(`the worker for seeds ${start}..${start + count - 1} exited ${code}: ${stderr}`)),
    );
  });
}

/** Runs seeds `from .. from+runs-1` in chunks on `workers` child processes at a time, calling `progress` after each seed. */
export async function soakInWorkers(
  from: number,
  runs: number,
  workers: number,
  progress?: (summary: SoakSummary) => void,
): Promise<SoakSummary> {
  const summary = emptySummary();
  const chunk = Math.max(1, Math.min(SEEDS_PER_WORKER, Math.ceil(runs / workers)));
  let next = from;
  const end = from + runs;
  const slot = async (): Promise<void> => {
    while (next < end) {
      const start = next;
      const count = Math.min(chunk, end - start);
      next += count;
      await runChunk(start, count, (outcome) => {
        tally(summary, outcome);
        progress?.(summary);
      });
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, workers) }, slot));
  return summary;
}
