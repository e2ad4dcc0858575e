/** What every integration driver offers the engine. Issue-4 drivers add plan and verify to this. */
import type { Task } from "../domain/engine-model.js";

/**
 * The document whose `attempt` holds the work (a running task, or a task's rollback claim): a side
 * write made for an attempt that no longer holds it (its lease expired, another attempt took over)
 * is refused, so a stale executor cannot overwrite what the current one did.
 */
export interface Fence {
  path: string;
  attempt: number;
}

/** Everything a driver gets for one attempt. */
export interface AttemptContext {
  task: Task;
  attempt: number;
  configuration: Record<string, unknown>;
  fence: Fence;
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
  /** Undoes the release this task's deployment applied; a second call for the same release changes nothing. */
  rollback(context: AttemptContext): Promise<{ summary: string }>;
}
