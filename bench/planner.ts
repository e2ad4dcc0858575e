/**
 * Solve time of the architecture planner's MILP (HiGHS) at scale: 10 environments of 50
 * integrations each (6 options per integration: 3,000 binaries, a budget, availability on three
 * request paths, required controls and residency per environment), against the baseline of the
 * same run: planning the real three-environment request of the demo. Also times the explanation
 * of an infeasible large model (deletion filtering). Run with `npm run bench:planner`; writes
 * out/bench/planner.json. `BENCH_RUNS` sets the timed runs (median after one warm-up).
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { planArchitecture } from "../functions/src/domain/planning/architect.js";
import {
  infeasibleSets,
  solveModel,
  type Model,
  type ModelRow,
  type ModelVariable,
} from "../functions/src/domain/planning/model.js";
import { downtimePpm } from "../functions/src/domain/planning/options.js";
import type { PlanningRequest } from "../functions/src/domain/planning/request.js";
import { loadHighs } from "../functions/src/solver/highs.js";

const RUNS = Number(process.env.BENCH_RUNS ?? 5);
const ENVIRONMENTS = 10;
const INTEGRATIONS = 50;
const OPTIONS = 6;
const TARGET_MS = 1000;

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? NaN;

/** A seeded generator (mulberry32), so every run solves the same model. */
function random(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** The large model; option 0 of each integration meets everything, so `budgetShare` 1 is feasible by construction. */
function largeModel(budgetShare: number): Model {
  const next = random(13);
  const slas = [0.999, 0.9995, 0.9999, 0.99999];
  const paths = ["api", "sign_in", "files"];
  const geos = ["eu", "us", "asia", "global"];
  const controls = Array.from({ length: 12 }, (_, i) => `control_${i}`);
  const variables: ModelVariable[] = [];
  const rows: ModelRow[] = [];
  const cost: [string, number][] = [];
  let safeCost = 0;
  for (let e = 0; e < ENVIRONMENTS; e++) {
    const pathTerms: Record<string, [string, number][]> = { api: [], sign_in: [], files: [] };
    const safeDowntime: Record<string, number> = { api: 0, sign_in: 0, files: 0 };
    const providers: Record<string, string[]> = {};
    const outside: string[] = [];
    for (let i = 0; i < INTEGRATIONS; i++) {
      const path = paths[i % 3]!;
      const names: string[] = [];
      for (let o = 0; o < OPTIONS; o++) {
        const name = `x_${e}_${i}_${o}`;
        names.push(name);
        variables.push({ name, kind: "binary" });
        const safe = o === 0;
        const price = safe ? 50 + next() * 150 : 0.5 + next() * 120;
        cost.push([name, price]);
        if (safe) safeCost += price;
        const sla = safe ? 0.99999 : slas[Math.floor(next() * slas.length)]!;
        if (i % 5 === 0) {
          pathTerms[path]!.push([name, downtimePpm(sla)]);
          if (safe) safeDowntime[path]! += downtimePpm(sla);
        }
        const provided = safe
          ? [controls[i % 12]!]
          : next() < 0.3
            ? [controls[Math.floor(next() * 12)]!]
            : [];
        for (const control of provided) (providers[control] ??= []).push(name);
        const geo = safe ? "eu" : geos[Math.floor(next() * geos.length)]!;
        if (geo !== "eu" && geo !== "global") outside.push(name);
      }
      rows.push({ name: `pick_${e}_${i}`, group: null, terms: names.map((n) => [n, 1]), sense: "=", rhs: 1 });
    }
    for (const path of paths) {
      rows.push({
        name: `availability_${e}_${path}`,
        group: "goals.availability",
        terms: pathTerms[path]!,
        sense: "<=",
        rhs: safeDowntime[path]! * 1.5,
      });
    }
    for (const control of controls.slice(0, 5)) {
      rows.push({
        name: `control_${e}_${control}`,
        group: "constraints.compliance",
        terms: (providers[control] ?? []).map((n) => [n, 1]),
        sense: ">=",
        rhs: 1,
      });
    }
    rows.push({
      name: `residency_${e}`,
      group: "constraints.data_residency",
      terms: outside.map((n) => [n, 1]),
      sense: "<=",
      rhs: 0,
    });
  }
  rows.push({
    name: "budget",
    group: "constraints.monthly_budget_usd",
    terms: cost,
    sense: "<=",
    rhs: safeCost * budgetShare,
  });
  return { variables, rows, objective: { sense: "minimize", terms: cost } };
}

const DEMO_REQUEST: PlanningRequest = {
  goals: {
    monthly_active_users: 20_000,
    reads_per_day: 2_000_000,
    writes_per_day: 200_000,
    storage_gib: 5,
    function_invocations_per_day: 500_000,
    hosting_egress_gib_per_month: 50,
    availability: 0.998,
    rpo_minutes: 60,
    rto_minutes: 240,
  },
  constraints: {
    monthly_budget_usd: 500,
    compliance: ["gdpr"],
    data_residency: "eu",
    security_level: "high",
  },
};

async function main() {
  const solver = await loadHighs();
  const time = (run: () => void) => {
    run();
    const times: number[] = [];
    for (let i = 0; i < RUNS; i++) {
      const start = performance.now();
      run();
      times.push(performance.now() - start);
    }
    return median(times);
  };
  console.log(`median of ${RUNS} runs after one warm-up (HiGHS ${"WebAssembly"}, one thread)\n`);
  let baselineStatus = "";
  const baseline = time(() => {
    const outcome = planArchitecture(DEMO_REQUEST, solver);
    baselineStatus = outcome.feasible ? `feasible, USD ${outcome.plan.monthly_cost_usd.total}` : "infeasible";
  });
  const model = largeModel(1);
  let largeStatus = "";
  const large = time(() => {
    const solution = solveModel(model, solver);
    largeStatus = `${solution.status}, objective ${solution.objective?.toFixed(2)}`;
  });
  const tight = largeModel(0.3);
  let sets: string[][] = [];
  const explain = time(() => {
    sets = infeasibleSets(tight, solver);
  });
  const binaries = model.variables.length;
  const row = (label: string, ms: number, result: string) =>
    console.log(
      `${label.padEnd(44)} ${ms.toFixed(1).padStart(9)} ${(ms / baseline).toFixed(2).padStart(10)}   ${result}`,
    );
  console.log(`${"case".padEnd(44)} ${"median ms".padStart(9)} ${"x baseline".padStart(10)}   result`);
  row("baseline: plan the demo request, 3 envs", baseline, baselineStatus);
  row(`${ENVIRONMENTS} envs x ${INTEGRATIONS} integrations (${binaries} binaries)`, large, largeStatus);
  row("same, budget 30%: explain (deletion filter)", explain, `conflicts ${JSON.stringify(sets)}`);
  console.log(
    `\n${ENVIRONMENTS} x ${INTEGRATIONS} solve: ${large.toFixed(0)} ms; goal under ${TARGET_MS} ms: ${large < TARGET_MS ? "met" : "NOT met"}`,
  );
  mkdirSync("out/bench", { recursive: true });
  writeFileSync(
    "out/bench/planner.json",
    JSON.stringify(
      {
        runs: RUNS,
        baseline: { case: "demo request, 3 environments", median_ms: baseline, status: baselineStatus },
        large: {
          environments: ENVIRONMENTS,
          integrations: INTEGRATIONS,
          options: OPTIONS,
          binaries,
          rows: model.rows.length,
          median_ms: large,
          ratio: large / baseline,
          status: largeStatus,
        },
        explain: { median_ms: explain, ratio: explain / baseline, conflicts: sets },
        target_ms: TARGET_MS,
        met: large < TARGET_MS,
      },
      null,
      2,
    ),
  );
  console.log("written: out/bench/planner.json");
}

await main();
