/** The scheduled-job endpoints of `/api/orchestration`: list, run now, pause, resume, runs, and the Cloud Scheduler sync. */
import { z } from "zod";
import type { Principal } from "../domain/access.js";
import { describePrincipal } from "../domain/access.js";
import { NotFoundError } from "../domain/errors.js";
import type { RouteSpec } from "./routes.js";

const noQuery = z.strictObject({});

/** Checks one route against its own schemas, then erases Q and B so the table can hold every shape. */
function route<Q, B>(spec: RouteSpec<Q, B>): RouteSpec {
  return spec as unknown as RouteSpec;
}

function who(principal: Principal | undefined): string {
  return principal ? describePrincipal(principal) : "anonymous";
}

/** Appended to the API's route table. */
export const JOB_ROUTES: RouteSpec[] = [
  route({
    method: "GET",
    path: "/jobs",
    summary:
      "Scheduled jobs: each one's cron, time zone, catch-up policy, next run, last run and outcome, and the latest runs",
    action: "read",
    query: z.strictObject({ limit: z.coerce.number().int().min(1).max(500).default(50) }),
    handle: async ({ jobs }, { query }) => ({
      status: 200,
      body: { jobs: await jobs.runner.list(), runs: await jobs.runner.runs({ limit: query.limit }) },
    }),
  }),
  route({
    method: "GET",
    path: "/jobs/{name}/runs",
    summary: "The latest runs of one scheduled job, newest first",
    action: "read",
    query: z.strictObject({ limit: z.coerce.number().int().min(1).max(500).default(50) }),
    handle: async ({ jobs }, { params, query }) => {
      const name = params.name ?? "";
      if (!(await jobs.catalog()).some((job) => job.name === name)) {
        throw new NotFoundError(`no scheduled job "${name}"; GET /api/orchestration/jobs lists them`);
      }
      return { status: 200, body: { runs: await jobs.runner.runs({ job: name, limit: query.limit }) } };
    },
  }),
  route({
    method: "POST",
    path: "/jobs/{name}/run",
    summary: "Run a scheduled job now (admin); a run in progress is not overlapped",
    action: "run_jobs",
    query: noQuery,
    handle: async ({ jobs }, { params, principal }) => ({
      status: 200,
      body: { run: await jobs.runner.runNow(params.name ?? "", who(principal)) },
    }),
  }),
  route({
    method: "POST",
    path: "/jobs/{name}/pause",
    summary: "Pause a scheduled job (admin): its ticks are not run until it is resumed",
    action: "run_jobs",
    query: noQuery,
    handle: async ({ jobs }, { params, principal }) => {
      const state = await jobs.runner.setPaused(params.name ?? "", true, who(principal));
      return { status: 200, body: { job: state.job, paused: state.paused, paused_by: state.paused_by } };
    },
  }),
  route({
    method: "POST",
    path: "/jobs/{name}/resume",
    summary: "Resume a paused scheduled job (admin); the ticks missed while paused are not caught up",
    action: "run_jobs",
    query: noQuery,
    handle: async ({ jobs }, { params, principal }) => {
      const state = await jobs.runner.setPaused(params.name ?? "", false, who(principal));
      return { status: 200, body: { job: state.job, paused: state.paused, paused_by: state.paused_by } };
    },
  }),
  route({
    method: "POST",
    path: "/jobs/sync",
    summary: "Make each environment's Cloud Scheduler jobs match the catalog (admin; idempotent)",
    action: "run_jobs",
    query: noQuery,
    handle: async ({ jobs }) => ({ status: 200, body: await jobs.syncCloud() }),
  }),
];
