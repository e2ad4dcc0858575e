/** Thin adapters from function events to engine steps. */
import type { Services } from "../app.js";
import { taskMessageSchema } from "../bus.js";
import { deploymentDocSchema } from "../domain/engine-model.js";
import { CorruptDocumentError } from "../domain/errors.js";
import { settlementDocSchema } from "../store/engine-store.js";
import { parseDocument } from "../store/typed-collection.js";

interface Snapshot {
  id: string;
  ref: { path: string };
  data(): unknown;
  exists: boolean;
}

/** `deployments/{id}` written: plan a new (or newly approved) request, or cancel what has not started. */
export async function onDeploymentWritten(services: Services, after: Snapshot | undefined): Promise<void> {
  if (!after?.exists) return;
  let parsed;
  try {
    parsed = parseDocument(deploymentDocSchema, after.ref.path, after.data());
  } catch (error) {
    if (!(error instanceof CorruptDocumentError)) throw error;
    const reason = `the deployment request is invalid: ${error.problems.map((problem) => problem.message).join("; ")}`;
    if (await services.engineStore.rejectUnreadableRequest(after.id, reason, services.clock.now())) {
      services.log.warn("deployment request refused", { correlation_id: after.id, error: reason });
    }
    return;
  }
  const deployment = { ...parsed, id: after.id };
  if (deployment.status === "requested" || deployment.status === "approved")
    await services.engine.startRequested(deployment);
  else if (deployment.status === "cancelling") await services.engine.cancelPending(deployment);
}

/** `task_settlements/{id}` written: a task reached a terminal state off the plain path; bring its deployment forward. */
export async function onTaskSettled(services: Services, after: Snapshot | undefined): Promise<void> {
  if (!after?.exists) return;
  const settlement = parseDocument(settlementDocSchema, after.ref.path, after.data());
  await services.engine.reconcile(settlement.deployment_id);
}

/** A message on `orchestration-tasks`: run its tasks. */
export async function onTaskMessage(services: Services, message: { readonly json: unknown }): Promise<void> {
  let json: unknown;
  try {
    json = message.json;
  } catch {
    json = undefined;
  }
  const parsed = taskMessageSchema.safeParse(json);
  if (!parsed.success) {
    services.log.error("malformed task message dropped", {
      issues: parsed.error.issues.map((issue) => issue.message),
    });
    return;
  }
  await services.engine.runTask(parsed.data);
}
