/**
 * Keeps each environment's Cloud Scheduler jobs as the catalog wants them, through Google's own
 * client (`@google-cloud/scheduler`): lists the jobs that exist, diffs them against the wanted
 * ones (pure, in domain/schedules.ts) and creates, updates (with an update mask), pauses, resumes
 * or deletes them. Every step tolerates having been done already (ALREADY_EXISTS, NOT_FOUND,
 * FAILED_PRECONDITION on pause/resume), so a sync that died halfway is finished by the next one.
 * Jobs are HTTP targets that call the `scheduledJob` function with an OIDC token.
 */
import { CloudSchedulerClient, type protos } from "@google-cloud/scheduler";
import {
  CLOUD_JOB_PREFIX,
  diffCloudJobs,
  type CloudJobStep,
  type ExistingCloudJob,
  type WantedCloudJob,
} from "../domain/schedules.js";

/** Where the jobs live and what they call. */
export interface CloudSchedulerTarget {
  project: string;
  location: string;
  /** The `scheduledJob` function's URL. */
  uri: string;
  /** The service account whose OIDC token the jobs send (it needs run.invoker on the function). */
  serviceAccountEmail: string;
}

/** How to reach the API: Google's endpoint, or a local contract server (REST transport over plain HTTP). */
export interface SchedulerEndpoint {
  /** e.g. "http://127.0.0.1:8123"; unset for Google's own endpoint with Application Default Credentials. */
  url?: string;
}

/** Builds the client; a local endpoint uses the library's REST fallback over HTTP with an API key header. */
export function schedulerClient(endpoint: SchedulerEndpoint): CloudSchedulerClient {
  if (!endpoint.url) return new CloudSchedulerClient();
  const url = new URL(endpoint.url);
  return new CloudSchedulerClient({
    fallback: true,
    apiEndpoint: url.hostname,
    port: Number(url.port),
    protocol: url.protocol.replace(":", ""),
    // A key, not a token, so that google-auth-library asks no metadata server for credentials.
    apiKey: "local-contract-server",
  });
}

const STATES = ["STATE_UNSPECIFIED", "ENABLED", "PAUSED", "DISABLED", "UPDATE_FAILED"] as const;

type ApiJob = protos.google.cloud.scheduler.v1.IJob;

function existingOf(job: ApiJob): ExistingCloudJob {
  const state = typeof job.state === "number" ? STATES[job.state] : job.state;
  const seconds = job.attemptDeadline?.seconds;
  const body = job.httpTarget?.body;
  return {
    name: job.name ?? "",
    description: job.description ?? null,
    schedule: job.schedule ?? null,
    timeZone: job.timeZone ?? null,
    attemptDeadline: seconds === undefined || seconds === null ? null : `${Number(seconds)}s`,
    uri: job.httpTarget?.uri ?? null,
    body: body ? Buffer.from(body as Uint8Array).toString("utf8") : null,
    serviceAccountEmail: job.httpTarget?.oidcToken?.serviceAccountEmail ?? null,
    state: (state as ExistingCloudJob["state"] | undefined) ?? "STATE_UNSPECIFIED",
  };
}

function apiJob(job: WantedCloudJob) {
  return {
    name: job.name,
    description: job.description,
    schedule: job.schedule,
    timeZone: job.timeZone,
    attemptDeadline: { seconds: Number(job.attemptDeadline.replace(/s$/, "")) },
    httpTarget: {
      uri: job.uri,
      httpMethod: "POST" as const,
      headers: { "Content-Type": "application/json" },
      body: Buffer.from(job.body),
      oidcToken: { serviceAccountEmail: job.serviceAccountEmail, audience: job.uri },
    },
  };
}

/** The update mask path (proto names) of each managed field; the HTTP target is replaced whole. */
const MASK: Record<string, string> = {
  description: "description",
  schedule: "schedule",
  timeZone: "time_zone",
  attemptDeadline: "attempt_deadline",
  uri: "http_target",
  body: "http_target",
  serviceAccountEmail: "http_target",
};

const codeOf = (error: unknown): number | undefined => (error as { code?: number }).code;
/** gRPC codes the REST transport maps Google's errors to. */
const NOT_FOUND = 5;
const ALREADY_EXISTS = 6;
const FAILED_PRECONDITION = 9;

/** Syncs wanted jobs into one project and location. */
export function createCloudSchedulerSync(client: CloudSchedulerClient, target: CloudSchedulerTarget) {
  const parent = `projects/${target.project}/locations/${target.location}`;

  async function existing(): Promise<ExistingCloudJob[]> {
    const [jobs] = await client.listJobs({ parent });
    return jobs
      .map(existingOf)
      .filter((job) => (job.name.split("/").at(-1) ?? "").startsWith(CLOUD_JOB_PREFIX));
  }

  async function step(action: CloudJobStep): Promise<string> {
    switch (action.action) {
      case "create":
        try {
          await client.createJob({ parent, job: apiJob(action.job) });
          return `created ${action.job.name}`;
        } catch (error) {
          if (codeOf(error) !== ALREADY_EXISTS) throw error;
          // Created by an earlier sync that died before answering: make it match instead.
          await client.updateJob({
            job: apiJob(action.job),
            updateMask: { paths: [...new Set(Object.values(MASK))] },
          });
          return `updated ${action.job.name} (it existed already)`;
        }
      case "update": {
        const paths = [...new Set(action.fields.map((field) => MASK[field] ?? field))];
        await client.updateJob({ job: apiJob(action.job), updateMask: { paths } });
        return `updated ${action.job.name} (${paths.join(", ")})`;
      }
      case "pause":
        try {
          await client.pauseJob({ name: action.name });
        } catch (error) {
          if (codeOf(error) !== FAILED_PRECONDITION) throw error;
        }
        return `paused ${action.name}`;
      case "resume":
        try {
          await client.resumeJob({ name: action.name });
        } catch (error) {
          if (codeOf(error) !== FAILED_PRECONDITION) throw error;
        }
        return `resumed ${action.name}`;
      case "delete":
        try {
          await client.deleteJob({ name: action.name });
        } catch (error) {
          if (codeOf(error) !== NOT_FOUND) throw error;
        }
        return `deleted ${action.name}`;
    }
  }

  return {
    target,
    existing,
    /** The steps that would make the existing jobs match `wanted`. */
    async plan(wanted: WantedCloudJob[]): Promise<{ existing: ExistingCloudJob[]; steps: CloudJobStep[] }> {
      const found = await existing();
      return { existing: found, steps: diffCloudJobs(wanted, found) };
    },
    /** Makes the existing jobs match `wanted`; answers what each step did. */
    async apply(wanted: WantedCloudJob[]): Promise<string[]> {
      const steps = diffCloudJobs(wanted, await existing());
      const done: string[] = [];
      for (const action of steps) done.push(await step(action));
      return done;
    },
  };
}

/** The sync's type. */
export type CloudSchedulerSync = ReturnType<typeof createCloudSchedulerSync>;
