/** What every integration driver offers the engine. Issue-4 drivers add plan and verify to this. */
import type { Task } from "../domain/engine-model.js";

/** Everything a driver gets for one attempt. */
export interface AttemptContext {
  task: Task;
  attempt: number;
  configuration: Record<string, unknown>;
}

/** What an apply reports: a line for people, and for real drivers the integration's new status and release. */
export interface ApplyResult {
  summary: string;
  integrationStatus?: "deployed" | "staged";
  release?: number | null;
}

export interface Driver {
  /** Makes the integration match the desired state; applying twice changes nothing the second time. */
  apply(context: AttemptContext): Promise<ApplyResult>;
  /** Returns the integration to its previous recorded release. */
  rollback(context: AttemptContext): Promise<{ summary: string }>;
}
