/** Loads the HiGHS MILP solver (WebAssembly, from the `highs` package) once, behind the planner's `MilpSolver` interface. */
import type { MilpSolution, MilpSolver } from "../domain/planning/model.js";

/** The loader's shape: the package's types describe it as CommonJS while Node loads its ES module build. */
type HighsLoader = () => Promise<{ solve(lp: string): HighsResult }>;

/** The part of HiGHS' result the planner reads (its published `LegacyHighsSolution`). */
interface HighsResult {
  Status: string;
  ObjectiveValue: number | null;
  Columns: Record<string, { Primal?: number }>;
}

let loading: Promise<MilpSolver> | undefined;

/** The HiGHS solver, loaded on first use and shared afterwards (each solve is independent). */
export function loadHighs(): Promise<MilpSolver> {
  loading ??= (async () => {
    const loader = (await import("highs")).default as unknown as HighsLoader;
    const highs = await loader();
    return {
      solve(lp: string): MilpSolution {
        const result = highs.solve(lp);
        const values: Record<string, number> = {};
        for (const [name, column] of Object.entries(result.Columns)) {
          if (typeof column.Primal === "number") values[name] = column.Primal;
        }
        const status =
          result.Status === "Optimal" ? "optimal" : result.Status === "Infeasible" ? "infeasible" : "other";
        return {
          status,
          detail: result.Status,
          objective: typeof result.ObjectiveValue === "number" ? result.ObjectiveValue : null,
          values,
        };
      },
    };
  })();
  return loading;
}
