/**
 * The demo's step on faults: deployments left as a lost task trigger and a lost executor leave them,
 * repaired by one run of the sweeper, which is what Cloud Scheduler runs every minute.
 */
import type { Firestore } from "firebase-admin/firestore";
import type { Task } from "../../functions/src/domain/engine-model.js";
import { expiredRunning, plantDeployment, succeeded } from "./faults.js";

type Call = (
  method: string,
  path: string,
  body?: unknown,
) => Promise<{ status: number; body: Record<string, unknown> }>;

interface View {
  deployment: { status: string };
  tasks: { integration: string; status: string; attempt: number }[];
}

const describe = (view: View) =>
  `${view.deployment.status}: ${view.tasks.map((task) => `${task.integration} ${task.status} (attempt ${task.attempt})`).join(", ")}`;

/** Plants two stuck deployments, sweeps once, and waits for both to end; true when both succeeded. */
export async function showFaultRepairs(db: Firestore, call: Call): Promise<boolean> {
  const stamp = Date.now().toString(36);
  const lostTrigger = `lost-trigger-${stamp}`;
  const lostExecutor = `lost-executor-${stamp}`;
  await plantDeployment(db, lostTrigger, "dev", ["auth", "functions"], (task: Task) =>
    task.integration === "auth" ? succeeded(task) : task,
  );
  await plantDeployment(db, lostExecutor, "dev", ["hosting"], expiredRunning);
  const view = async (id: string) => (await call("GET", `/deployments/${id}`)).body as unknown as View;
  console.log(`  ${lostTrigger}: ${describe(await view(lostTrigger))}  <- auth's task trigger was lost`);
  console.log(
    `  ${lostExecutor}: ${describe(await view(lostExecutor))}  <- its executor died, lease expired`,
  );
  const swept = await call("POST", "/jobs/sweep");
  const { expired, reconciled, relayed, errors } = swept.body as {
    expired: number;
    reconciled: number;
    relayed: number;
    errors: string[];
  };
  console.log(
    `  POST /jobs/sweep -> ${swept.status}: ${expired} lease expired, ${reconciled} deployment(s) reconciled, ${relayed} outbox fact(s) relayed, ${errors.length} error(s)`,
  );
  const deadline = Date.now() + 60_000;
  const ended = new Map<string, View>();
  while (ended.size < 2 && Date.now() < deadline) {
    for (const id of [lostTrigger, lostExecutor]) {
      const current = await view(id);
      if (["succeeded", "failed", "rolled_back", "cancelled"].includes(current.deployment.status))
        ended.set(id, current);
    }
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  for (const id of [lostTrigger, lostExecutor]) {
    const final = ended.get(id);
    console.log(`  ${id}: ${final ? describe(final) : "did not end within 60 s"}`);
  }
  return [...ended.values()].filter((final) => final.deployment.status === "succeeded").length === 2;
}
