/**
 * The path every scheduled tick takes into the runner: the `onSchedule` functions (the control
 * plane's jobs, whose Cloud Scheduler jobs Firebase creates on deploy) and the `scheduledJob`
 * HTTPS function (each environment's Cloud Scheduler jobs, and the local stack's ticker).
 */
import type { Request } from "firebase-functions/v2/https";
import type { Response } from "express";
import { z } from "zod";
import type { Services } from "../app.js";
import { authorize } from "../domain/access.js";
import { BadInputError, ForbiddenError, UnauthenticatedError } from "../domain/errors.js";
import { zodIssueToProblem } from "../domain/problems.js";
import type { TickReport } from "../engine/jobs.js";
import { errorResponse, parseJsonBody } from "./http.js";

/** The body of a tick: the job, and the tick (Cloud Scheduler sends it as a header instead) or a catch-up request. */
export const tickRequestSchema = z.strictObject({
  job: z.string().min(1).max(64),
  scheduled_for: z.iso.datetime().optional(),
  catch_up: z.literal(true).optional(),
});

/** Runs the tick an `onSchedule` function was fired for. */
export async function onScheduledTick(
  services: Services,
  job: string,
  scheduleTime: string,
): Promise<TickReport> {
  const report = await services.jobs.runner.runTick(job, new Date(scheduleTime));
  services.log.info("scheduled tick", { job, scheduleTime, status: report.status });
  return report;
}

/**
 * Serves `scheduledJob`. In the cloud the function is private: Cloud Run lets only callers with
 * run.invoker in (the scheduler's service account, with its OIDC token). The Functions emulator
 * enforces no invoker policy, so there the caller must be the stack's admin, as for the API.
 */
export async function serveScheduledJob(services: Services, req: Request, res: Response): Promise<void> {
  try {
    if (req.method !== "POST") throw new BadInputError(`${req.method} is not allowed; POST a tick`);
    if (process.env.FUNCTIONS_EMULATOR === "true") {
      const headers = Object.fromEntries(
        Object.entries(req.headers).map(([k, v]) => [k, Array.isArray(v) ? v[0] : v]),
      );
      const principal = await services.access.authenticate(headers);
      const decision = authorize(principal, "run_jobs");
      if (!decision.allowed) {
        throw decision.status === 401
          ? new UnauthenticatedError(decision.reason)
          : new ForbiddenError(decision.reason);
      }
    }
    const raw = parseJsonBody(req.rawBody, req.get("content-type"));
    const parsed = tickRequestSchema.safeParse(raw ?? {});
    if (!parsed.success) {
      const problems = parsed.error.issues.map((issue) => zodIssueToProblem(issue, raw, tickRequestSchema));
      throw new BadInputError(
        `the tick has ${problems.length} problem(s): ${problems.map((p) => p.message).join("; ")}`,
        problems,
      );
    }
    const now = services.clock.now();
    if (parsed.data.catch_up) {
      const runs = await services.jobs.runner.catchUpTo(parsed.data.job, now);
      res.status(200).json({ status: "caught-up", runs });
      return;
    }
    const header = req.get("x-cloudscheduler-scheduletime");
    const tick = parsed.data.scheduled_for ?? header ?? now.toISOString();
    res.status(200).json(await services.jobs.runner.runTick(parsed.data.job, new Date(tick)));
  } catch (error) {
    const response = errorResponse(error);
    if (response.status >= 500)
      services.log.error("scheduled job failed", {
        error: error instanceof Error ? error.message : String(error),
      });
    res.status(response.status).json(response.body);
  }
}
