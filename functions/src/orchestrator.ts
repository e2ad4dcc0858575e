/**
 * `FirebaseMasterOrchestrator`, the specification's planner: plans an architecture from business
 * goals and constraints (INFRA-004) and hands the rest to the parts that already do it: the
 * environments' task graphs to the operations, deployments to the engine.
 */
import { planArchitecture, type PlanningOutcome } from "./domain/planning/architect.js";
import type { MilpSolver } from "./domain/planning/model.js";
import type { PlanningRequest } from "./domain/planning/request.js";
import type { Engine } from "./engine/engine.js";
import type { Operations } from "./engine/operations.js";
import { loadHighs } from "./solver/highs.js";

/** The public face of goal-oriented planning; thin by design. */
export class FirebaseMasterOrchestrator {
  constructor(
    private readonly deps: {
      operations?: Operations;
      engine?: Engine;
      /** The MILP solver; HiGHS unless a test gives another. */
      solver?: () => Promise<MilpSolver>;
    } = {},
  ) {}

  /** A costed, risk-assessed architecture that meets the goals within the constraints, or the conflicts and their relaxations. */
  async planFromGoals(request: PlanningRequest): Promise<PlanningOutcome> {
    const solver = await (this.deps.solver ?? loadHighs)();
    return planArchitecture(request, solver);
  }

  /** Task graphs, timelines, driver plans and differences of configured environments (delegated to the operations). */
  planEnvironments(
    names: string[],
    integrations?: Parameters<Operations["plan"]>[1],
  ): ReturnType<Operations["plan"]> {
    if (!this.deps.operations)
      throw new Error("FirebaseMasterOrchestrator: planning environments needs the operations");
    return this.deps.operations.plan(names, integrations);
  }

  /** Requests a deployment through the engine. */
  requestDeployment(
    ...args: Parameters<Engine["requestDeployment"]>
  ): ReturnType<Engine["requestDeployment"]> {
    if (!this.deps.engine) throw new Error("FirebaseMasterOrchestrator: deploying needs the engine");
    return this.deps.engine.requestDeployment(...args);
  }
}
