/** Wiring only: every deployable function of the control plane, and nothing else. */
import { initializeApp } from "firebase-admin/app";
import { getFirestore } from "firebase-admin/firestore";
import { onDocumentCreated, onDocumentUpdated, onDocumentWritten } from "firebase-functions/v2/firestore";
import { onRequest } from "firebase-functions/v2/https";
import { onMessagePublished } from "firebase-functions/v2/pubsub";
import { onSchedule } from "firebase-functions/v2/scheduler";
import { createServices, type Services } from "./app.js";
import { TOPICS } from "./bus.js";
import { serveApi } from "./handlers/https.js";
import { onDeploymentWritten, onTaskMessage, onTaskUpdated } from "./handlers/triggers.js";
import { COLLECTIONS } from "./domain/model.js";
import { AUDIT_COLLECTIONS } from "./domain/audit.js";

initializeApp();

let services: Services | undefined;
/** Built on first use so that a cold start that serves nothing does no work. */
function getServices(): Services {
  services ??= createServices({ db: getFirestore() });
  return services;
}

const region = "us-central1";

export const api = onRequest({ region, cors: true }, (req, res) => serveApi(getServices(), req, res));

export const deploymentWritten = onDocumentWritten(
  { region, document: `${COLLECTIONS.deployments}/{id}` },
  (event) => onDeploymentWritten(getServices(), event.data?.after),
);

export const taskUpdated = onDocumentUpdated({ region, document: `${COLLECTIONS.tasks}/{id}` }, (event) =>
  onTaskUpdated(getServices(), event.data?.before, event.data?.after),
);

export const runTask = onMessagePublished({ region, topic: TOPICS.tasks, timeoutSeconds: 540 }, (event) =>
  onTaskMessage(getServices(), event.data.message),
);

export const sweepLeases = onSchedule({ region, schedule: "every 1 minutes" }, async () => {
  // The audit chain is drained even when the engine's sweep fails: a lost wake-up delays a record, never drops it.
  const [swept, drained] = await Promise.allSettled([
    getServices().engine.sweep(),
    getServices().audit.drain(),
  ]);
  if (swept.status === "rejected") throw swept.reason;
  if (drained.status === "rejected") throw drained.reason;
});

/** Wakes the audit chain writer for each staged record (a wake-up that finds it busy leaves the work to it). */
export const auditStaged = onDocumentCreated(
  { region, document: `${AUDIT_COLLECTIONS.inbox}/{id}` },
  async () => {
    await getServices().audit.drain();
  },
);

export const healthCheck = onSchedule({ region, schedule: "every 1 minutes" }, async () => {
  await getServices().health.check();
});
