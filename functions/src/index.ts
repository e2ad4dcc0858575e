/** Wiring only: every deployable function of the control plane, and nothing else. */
import { initializeApp } from "firebase-admin/app";
import { getFirestore } from "firebase-admin/firestore";
import { onDocumentWritten } from "firebase-functions/v2/firestore";
import { onRequest } from "firebase-functions/v2/https";
import { onMessagePublished } from "firebase-functions/v2/pubsub";
import { onSchedule } from "firebase-functions/v2/scheduler";
import { createServices, type Services } from "./app.js";
import { TOPICS } from "./bus.js";
import { serveApi } from "./handlers/https.js";
import { onDeploymentWritten, onTaskMessage, onTaskSettled } from "./handlers/triggers.js";
import { onScheduledTick, serveScheduledJob } from "./handlers/scheduled.js";
import { controlPlaneSchedule } from "./domain/schedules.js";
import { COLLECTIONS } from "./domain/model.js";
import { SETTLEMENTS } from "./store/engine-store.js";

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

export const taskSettled = onDocumentWritten({ region, document: `${SETTLEMENTS}/{id}` }, (event) =>
  onTaskSettled(getServices(), event.data?.after),
);

export const runTask = onMessagePublished({ region, topic: TOPICS.tasks, timeoutSeconds: 540 }, (event) =>
  onTaskMessage(getServices(), event.data.message),
);

/** One `onSchedule` function per control-plane job of the catalog, on the catalog's cron and time zone. */
const scheduled = (job: string) => {
  const { cron, time_zone, timeout_seconds } = controlPlaneSchedule(job, process.env.ORCH_SCHEDULE_TIME_ZONE);
  return onSchedule(
    { region, schedule: cron, timeZone: time_zone, timeoutSeconds: timeout_seconds, retryCount: 0 },
    async (event) => {
      await onScheduledTick(getServices(), job, event.scheduleTime);
    },
  );
};

export const sweepLeases = scheduled("lease-sweeper");
export const optimization = scheduled("optimization");
export const controlPlaneBackup = scheduled("control-plane-backup");
export const retentionPurge = scheduled("retention-purge");
export const warehouseMaintenance = scheduled("warehouse-maintenance");

/** Each environment's Cloud Scheduler jobs (and the local ticker) call this; private in the cloud. */
export const scheduledJob = onRequest({ region, invoker: "private", timeoutSeconds: 540 }, (req, res) =>
  serveScheduledJob(getServices(), req, res),
);
