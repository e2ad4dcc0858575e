/**
 * A small mixed-integer model and its CPLEX LP text: the planner builds one, a MILP solver (HiGHS)
 * solves the text, and the solution is read back by variable name. Rows carry the request field
 * they come from (`group`), so that infeasibility can be explained field by field.
 */

/** The solver behind an interface, so the domain stays pure and tests run the real one. */
export interface MilpSolver {
  solve(lp: string): MilpSolution;
}

/** What the planner needs from a solve: the status and each column's value. */
export interface MilpSolution {
  status: "optimal" | "infeasible" | "other";
  detail: string;
  objective: number | null;
  values: Record<string, number>;
}

/** One variable: binaries are choices, continuous ones are auxiliary (e.g. the worst path's downtime). */
export interface ModelVariable {
  name: string;
  kind: "binary" | "continuous";
}

/** One linear row; `group` names the request field it enforces, or null for the model's own structure. */
export interface ModelRow {
  name: string;
  group: string | null;
  terms: readonly (readonly [string, number])[];
  sense: "<=" | ">=" | "=";
  rhs: number;
}

/** A whole model. */
export interface Model {
  variables: readonly ModelVariable[];
  rows: readonly ModelRow[];
  objective: { sense: "minimize" | "maximize"; terms: readonly (readonly [string, number])[] };
}

/** Variable that is fixed to 1, so that every row has at least one term (an empty row is not valid LP text). */
export const ONE = "one";

function num(value: number): string {
  // LP text takes plain decimals; 15 significant digits keep every catalog price exact.
  return Number(value.toPrecision(15)).toString();
}

function linear(raw: readonly (readonly [string, number])[]): string {
  // A variable named twice is one term with the summed coefficient (LP readers may keep only one).
  const summed = new Map<string, number>();
  for (const [name, coef] of raw) summed.set(name, (summed.get(name) ?? 0) + coef);
  const terms = [...summed.entries()];
  const parts = terms
    .filter(([, coef]) => coef !== 0)
    .map(([name, coef]) => `${coef < 0 ? "-" : "+"} ${num(Math.abs(coef))} ${name}`);
  return parts.length === 0 ? `0 ${ONE}` : parts.join(" ");
}

/** The model as CPLEX LP text, leaving out the rows of the `without` groups. */
export function toLpText(model: Model, without: ReadonlySet<string> = new Set()): string {
  const lines: string[] = [model.objective.sense === "minimize" ? "Minimize" : "Maximize"];
  lines.push(` obj: ${linear(model.objective.terms)}`);
  lines.push("Subject To");
  for (const row of model.rows) {
    if (row.group !== null && without.has(row.group)) continue;
    // The fixed variable keeps rows with no choice in them (nothing qualifies) well formed and still binding.
    const terms = row.terms.length === 0 ? [[ONE, 1] as const] : row.terms;
    const rhs = row.terms.length === 0 ? row.rhs + 1 : row.rhs;
    lines.push(` ${row.name}: ${linear(terms)} ${row.sense} ${num(rhs)}`);
  }
  lines.push("Bounds");
  lines.push(` ${ONE} = 1`);
  for (const variable of model.variables) {
    if (variable.kind === "continuous") lines.push(` 0 <= ${variable.name} <= 1e9`);
  }
  const binaries = model.variables
    .filter((variable) => variable.kind === "binary")
    .map((variable) => variable.name);
  if (binaries.length > 0) {
    lines.push("Binary");
    for (let i = 0; i < binaries.length; i += 20) lines.push(` ${binaries.slice(i, i + 20).join(" ")}`);
  }
  lines.push("End");
  return lines.join("\n");
}

/** Solves the model without the given groups. */
export function solveModel(
  model: Model,
  solver: MilpSolver,
  without: ReadonlySet<string> = new Set(),
): MilpSolution {
  return solver.solve(toLpText(model, without));
}

/** Every group the model's rows enforce, in first-seen order. */
export function groupsOf(model: Model): string[] {
  const seen: string[] = [];
  for (const row of model.rows) if (row.group !== null && !seen.includes(row.group)) seen.push(row.group);
  return seen;
}

/**
 * An irreducible infeasible subset of the groups, by deletion filtering: drop each group in turn
 * and keep it dropped when the rest is still infeasible. What remains cannot hold together, and
 * removing any one of its groups makes it feasible. Groups in `excluded` are left out throughout.
 * Null when the model is infeasible even without every group (its structure alone).
 */
export function irreducibleInfeasibleGroups(
  model: Model,
  solver: MilpSolver,
  excluded: ReadonlySet<string> = new Set(),
): string[] | null {
  const all = groupsOf(model).filter((group) => !excluded.has(group));
  if (solveModel(model, solver, new Set([...excluded, ...all])).status !== "optimal") return null;
  let kept = [...all];
  for (const group of all) {
    const trial = kept.filter((candidate) => candidate !== group);
    const without = new Set([...excluded, ...all.filter((candidate) => !trial.includes(candidate))]);
    if (solveModel(model, solver, without).status !== "optimal") kept = trial;
  }
  return kept;
}

/**
 * Every independent conflict: an irreducible set, then another among the groups left once the
 * first is set aside, until the rest is feasible. Each set alone is infeasible and minimal.
 */
export function infeasibleSets(model: Model, solver: MilpSolver): string[][] {
  const sets: string[][] = [];
  const excluded = new Set<string>();
  while (solveModel(model, solver, excluded).status !== "optimal") {
    const set = irreducibleInfeasibleGroups(model, solver, excluded);
    if (set === null || set.length === 0) break;
    sets.push(set);
    for (const group of set) excluded.add(group);
  }
  return sets;
}
