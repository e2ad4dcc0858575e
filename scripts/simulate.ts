/**
 * Deterministic simulation of the engine (test/sim): replay one seed with its trace, or soak many.
 *
 *   npm run simulate -- --seed 42            replay seed 42: summary, violations, trace (to a file when long)
 *   npm run simulate -- --runs 100000        soak seeds 1..100000 on every core: progress, then a summary
 *   npm run simulate -- --runs 5000 --from 7 --workers 2
 *
 * Exits 1 when any invariant is violated.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { INVARIANTS } from "../test/sim/invariants.js";
import { describeSummary, runSeed, soakInWorkers, type SoakSummary } from "../test/sim/soak.js";
import { simulate } from "../test/sim/world.js";

const TRACE_LINES_ON_SCREEN = 200;
const root = path.resolve(fileURLToPath(new URL("..", import.meta.url)));

function option(name: string): string | undefined {
  const index = process.argv.indexOf(`--${name}`);
  return index >= 0 ? process.argv[index + 1] : undefined;
}

function integer(name: string, fallback: number): number {
  const raw = option(name);
  if (raw === undefined) return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 0) {
    console.error(`--${name}: found "${raw}"; allowed: a whole number >= 0`);
    process.exit(2);
  }
  return value;
}

async function replay(seed: number): Promise<number> {
  const started = performance.now();
  const result = await simulate(seed, { trace: true });
  const elapsed = performance.now() - started;
  console.log(
    `seed ${seed}: ${result.steps} steps, ${(result.simulatedMs / 1000).toFixed(1)} s simulated (${result.ended}), ${result.crashes} crashed invocation(s), ${elapsed.toFixed(0)} ms`,
  );
  console.log(`deployments: ${result.deployments.map((d) => `${d.id} ${d.status}`).join(", ") || "none"}`);
  if (result.trace.length > TRACE_LINES_ON_SCREEN) {
    const dir = path.join(root, ".stack", "sim");
    mkdirSync(dir, { recursive: true });
    const file = path.join(dir, `seed-${seed}.trace.txt`);
    writeFileSync(file, `${result.trace.join("\n")}\n`);
    console.log(`trace: ${result.trace.length} lines in ${file}`);
  } else {
    console.log("trace:");
    for (const line of result.trace) console.log(`  ${line}`);
  }
  if (result.violations.length === 0) {
    console.log("no invariant violated");
    return 0;
  }
  console.log(`${result.violations.length} violation(s):`);
  for (const violation of result.violations) console.log(`  ${violation.invariant}: ${violation.detail}`);
  return 1;
}

/** A worker: runs its seeds and reports each outcome to the parent. */
async function worker(from: number, count: number): Promise<void> {
  for (let seed = from; seed < from + count; seed++) {
    const outcome = await runSeed(seed);
    await new Promise<void>((resolve, reject) =>
      process.send?.(outcome, (error: Error | null) => (error ? reject(error) : resolve())),
    );
  }
  process.disconnect?.();
}

async function soakAll(from: number, runs: number, workers: number): Promise<number> {
  const started = performance.now();
  const tty = process.stdout.isTTY;
  let lastPrinted = 0;
  const progress = (summary: SoakSummary, force = false) => {
    const now = performance.now();
    if (!force && now - lastPrinted < (tty ? 250 : 10_000)) return;
    lastPrinted = now;
    const rate = summary.runs / Math.max(0.001, (now - started) / 1000);
    const violated =
      [...summary.byInvariant].map(([name, entry]) => `${name} ${entry.runs}`).join(", ") || "none";
    const line = `${summary.runs}/${runs} runs, ${rate.toFixed(0)}/s, violations: ${violated}`;
    if (tty)
      process.stdout.write(
        `\r${line.slice(0, (process.stdout.columns ?? 120) - 1).padEnd((process.stdout.columns ?? 120) - 1)}`,
      );
    else console.log(line);
  };
  console.log(`soak: seeds ${from}..${from + runs - 1} on ${workers} worker(s)`);
  const summary = await soakInWorkers(from, runs, workers, (current) => progress(current));
  progress(summary, true);
  if (tty) process.stdout.write("\n");
  for (const line of describeSummary(summary, performance.now() - started)) console.log(line);
  if (summary.failingRuns > 0) {
    console.log("invariants:");
    for (const [name, text] of Object.entries(INVARIANTS)) console.log(`  ${name}: ${text}`);
  }
  return summary.failingRuns > 0 ? 1 : 0;
}

async function main(): Promise<number> {
  if (process.argv.includes("--worker")) {
    await worker(integer("from", 1), integer("runs", 0));
    return 0;
  }
  const seed = option("seed");
  if (seed !== undefined) return replay(integer("seed", 0));
  const runs = integer("runs", 0);
  if (runs === 0) {
    console.error("usage: npm run simulate -- --seed N | --runs N [--from S] [--workers W]");
    return 2;
  }
  return soakAll(integer("from", 1), runs, Math.max(1, integer("workers", os.availableParallelism())));
}

process.exitCode = await main();
