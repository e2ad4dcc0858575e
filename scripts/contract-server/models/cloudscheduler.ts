import { ApiError, ResourceCollection } from "../resources.js";
import type { ContractServer } from "../server.js";

type Job = Record<string, unknown> & { name: string; state?: string };

const STATES = ["STATE_UNSPECIFIED", "ENABLED", "PAUSED", "DISABLED", "UPDATE_FAILED"];

/**
 * Cloud Scheduler v1's behaviour as its reference documents it, registered on a contract server:
 * jobs are created ENABLED, pause needs ENABLED and resume needs PAUSED (FAILED_PRECONDITION
 * otherwise), run answers the job, output-only fields sent by a caller are ignored.
 */
export function cloudSchedulerModel(
  server: ContractServer,
  now: () => Date = () => new Date(),
): ResourceCollection<Job> {
  const jobs = new ResourceCollection<Job>("jobs");
  const base = "cloudscheduler.projects.locations.jobs";
  const str = (value: string | string[] | undefined): string | undefined =>
    Array.isArray(value) ? value[0] : value;
  const input = (body: unknown): Record<string, unknown> => {
    const {
      state: _s,
      scheduleTime: _t,
      userUpdateTime: _u,
      lastAttemptTime: _l,
      status: _st,
      ...rest
    } = body as Record<string, unknown>;
    return rest;
  };
  const stateOf = (job: Job): string =>
    typeof job.state === "number" ? (STATES[job.state] ?? "STATE_UNSPECIFIED") : (job.state ?? "");
  server
    .on(`${base}.create`, ({ params, body }) => {
      const fields = input(body);
      const id =
        typeof fields.name === "string" ? fields.name : `${params.parent}/jobs/job-${jobs.all().length + 1}`;
      if (!id.startsWith(`${params.parent}/jobs/`)) {
        throw new ApiError("INVALID_ARGUMENT", `Job name ${id} is not under ${params.parent}.`);
      }
      return {
        body: jobs.create(id, { ...fields, name: id, state: "ENABLED", userUpdateTime: now().toISOString() }),
      };
    })
    .on(`${base}.get`, ({ params }) => ({ body: jobs.get(params.name ?? "") }))
    .on(`${base}.list`, ({ params, query }) => {
      const size = str(query.pageSize);
      const page = jobs.list(params.parent ?? "", size ? Number(size) : undefined, str(query.pageToken));
      return {
        body: page.nextPageToken
          ? { jobs: page.items, nextPageToken: page.nextPageToken }
          : { jobs: page.items },
      };
    })
    .on(`${base}.patch`, ({ params, query, body }) => {
      const updated = jobs.patch(params.name ?? "", input(body), str(query.updateMask));
      return { body: jobs.put(updated.name, { ...updated, userUpdateTime: now().toISOString() }) };
    })
    .on(`${base}.delete`, ({ params }) => {
      jobs.delete(params.name ?? "");
      return { body: {} };
    })
    .on(`${base}.pause`, ({ params }) => {
      const job = jobs.get(params.name ?? "");
      if (stateOf(job) !== "ENABLED")
        throw new ApiError(
          "FAILED_PRECONDITION",
          `Job ${job.name} is ${stateOf(job)}; only ENABLED jobs can be paused.`,
        );
      return { body: jobs.put(job.name, { ...job, state: "PAUSED" }) };
    })
    .on(`${base}.resume`, ({ params }) => {
      const job = jobs.get(params.name ?? "");
      if (stateOf(job) !== "PAUSED")
        throw new ApiError(
          "FAILED_PRECONDITION",
          `Job ${job.name} is ${stateOf(job)}; only PAUSED jobs can be resumed.`,
        );
      return { body: jobs.put(job.name, { ...job, state: "ENABLED" }) };
    })
    .on(`${base}.run`, ({ params }) => {
      const job = jobs.get(params.name ?? "");
      return { body: jobs.put(job.name, { ...job, lastAttemptTime: now().toISOString() }) };
    });
  return jobs;
}
