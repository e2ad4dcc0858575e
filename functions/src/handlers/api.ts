/** The `/api/orchestration/*` routes: parse, call the domain, persist through the store. */
import { randomBytes } from "node:crypto";
import { z } from "zod";
import type { Services } from "../app.js";
import type { DeploymentPlan } from "../domain/planner.js";
import { zodIssueToProblem } from "../domain/problems.js";
import { validateConfig } from "../domain/config.js";
import { BadInputError, NotFoundError } from "../domain/errors.js";
import { MethodNotAllowedError, errorResponse, type ApiRequest, type ApiResponse } from "./http.js";

type Route = (
  services: Services,
  request: ApiRequest,
  params: Record<string, string>,
) => Promise<ApiResponse>;

const ok = (body: unknown): ApiResponse => ({ status: 200, body });

const routes: Record<string, Partial<Record<string, Route>>> = {
  "/health": {
    GET: () => Promise.resolve(ok({ status: "ok" })),
  },
  "/config": {
    GET: async ({ store }) => {
      const current = await store.currentConfig();
      if (!current)
        throw new NotFoundError("no config loaded yet; POST orchestration.json to /api/orchestration/config");
      return ok(current);
    },
    POST: async ({ store, clock }, request) => {
      if (request.body === undefined)
        throw new BadInputError("body is empty; send the orchestration config as JSON");
      const result = validateConfig(request.body);
      if (!result.ok)
        throw new BadInputError(`the config has ${result.problems.length} problem(s)`, result.problems);
      const writes = await store.loadConfig(
        result.config,
        request.body as Record<string, unknown>,
        clock.now(),
      );
      return ok({
        environments: result.config.environments.map((env) => env.name),
        written: {
          config: writes.config ? 1 : 0,
          environments: writes.environments.length,
          integrations: writes.integrations.length,
        },
      });
    },
  },
  "/environments": {
    GET: async ({ store }) => {
      const [environments, integrations] = await Promise.all([
        store.listEnvironments(),
        store.listIntegrations(),
      ]);
      return ok({
        environments: environments.map((env) => ({
          ...env,
          integrations: integrations.filter((i) => i.environment === env.name),
        })),
      });
    },
  },
  "/deploy": {
    POST: async ({ engine }, request) => {
      const id = newDeploymentId(request.body);
      const { plan, doc } = await engine.requestDeployment(id, request.body, "api");
      return {
        status: 202,
        body: {
          deployment_id: id,
          deployment_status: doc.status,
          task_ids: plan.tasks.map((task) => task.id),
          estimated_completion: plan.estimatedCompletion.toISOString(),
          critical_path: plan.criticalPath,
        },
      };
    },
  },
  "/deployments/{id}": {
    GET: async ({ engineStore }, _request, { id = "" }) => {
      const deployment = await engineStore.getDeployment(id);
      if (!deployment) throw new NotFoundError(`deployment ${id} does not exist`);
      const tasks = await engineStore.tasksOf(id);
      return ok({
        deployment,
        tasks: tasks.map((task) => ({
          ...task,
          driver_label: task.driver === "simulated" ? "simulated (test driver)" : task.driver,
        })),
      });
    },
  },
  "/deployments/{id}/cancel": {
    POST: async ({ engine }, _request, { id = "" }) => ok({ deployment: await engine.cancel(id) }),
  },
  "/jobs/sweep": {
    POST: async ({ engine }) => ok(await engine.sweep()),
  },
  "/status": {
    GET: async ({ health }, request) => ok(await health.check(request.query.environment)),
  },
  "/alerts": {
    GET: async ({ store }, request) => {
      const status = request.query.status;
      if (status !== undefined && status !== "open" && status !== "resolved") {
        throw new BadInputError(`status must be open or resolved`, [
          {
            path: "status",
            found: `"${status}"`,
            allowed: '"open" or "resolved"',
            message: `status: found "${status}"; allowed: "open" or "resolved"`,
          },
        ]);
      }
      return ok({ alerts: await store.listAlerts(status) });
    },
  },
  "/jobs/health": {
    POST: async ({ health }) => ok(await health.check()),
  },
  "/environments/{name}/provision": {
    POST: async ({ operations }, _request, { name = "" }) => {
      const id = newDeploymentId({ environment: name });
      const { plan, doc } = await operations.provision(id, name, "api");
      return { status: 202, body: deploymentAnswer(id, doc.status, plan) };
    },
  },
  "/promote": {
    POST: async ({ operations }, request) => {
      const to =
        typeof request.body === "object" && request.body !== null && "to" in request.body
          ? request.body.to
          : undefined;
      const id = newDeploymentId({ environment: typeof to === "string" ? to : "x" });
      const { plan, doc } = await operations.promote(id, request.body, "api");
      return { status: 202, body: deploymentAnswer(id, doc.status, plan) };
    },
  },
  "/plan": {
    POST: async ({ operations, environments }, request) => {
      const body = planRequestSchema.safeParse(request.body ?? {});
      if (!body.success) {
        const problems = body.error.issues.map((issue) =>
          zodIssueToProblem(issue, request.body, planRequestSchema),
        );
        throw new BadInputError(`the plan request has ${problems.length} problem(s)`, problems);
      }
      const names =
        body.data.environments ?? (await environments.config()).environments.map((env) => env.name);
      const { plans, differences } = await operations.plan(names);
      return ok({
        architecture_plan: plans.map(({ env, drivers }) => ({
          environment: env.name,
          type: env.type,
          mode: env.mode,
          region: env.region,
          integrations: drivers,
        })),
        timeline: plans.map(({ env, plan }) => ({
          environment: env.name,
          estimated_seconds: plan.estimatedSeconds,
          critical_path: plan.criticalPath,
          tasks: plan.timeline.map((entry) => ({
            ...entry,
            dependencies: plan.tasks.find((task) => task.id === entry.id)?.dependencies ?? [],
          })),
        })),
        resource_requirements: plans.map(({ env }) => {
          const functions = env.integrations.find((integration) => integration.kind === "functions");
          return {
            environment: env.name,
            concurrency: env.concurrency,
            functions:
              functions?.kind === "functions"
                ? {
                    memory: functions.settings.memory,
                    min_instances: functions.settings.min_instances,
                    max_instances: functions.settings.max_instances,
                  }
                : null,
          };
        }),
        differences,
        not_used_yet: {
          goals: body.data.goals ?? [],
          constraints: body.data.constraints ?? {},
          note: "goal-oriented planning is not built yet: goals and constraints are accepted and echoed, not used",
        },
      });
    },
  },
};

function matchRoute(
  path: string,
): { byMethod: Partial<Record<string, Route>>; params: Record<string, string> } | undefined {
  const parts = path.split("/");
  for (const [pattern, byMethod] of Object.entries(routes)) {
    const expected = pattern.split("/");
    if (expected.length !== parts.length) continue;
    const params: Record<string, string> = {};
    const matches = expected.every((segment, index) => {
      const actual = parts[index] ?? "";
      if (segment.startsWith("{")) {
        params[segment.slice(1, -1)] = decodeURIComponent(actual);
        return /^[A-Za-z0-9_-]{1,128}$/.test(decodeURIComponent(actual));
      }
      return segment === actual;
    });
    if (matches) return { byMethod, params };
  }
  return undefined;
}

const planRequestSchema = z.strictObject({
  environments: z.array(z.string().min(1)).min(1).optional(),
  goals: z.array(z.unknown()).optional(),
  constraints: z.record(z.string(), z.unknown()).optional(),
});

function deploymentAnswer(id: string, status: string, plan: DeploymentPlan) {
  return {
    deployment_id: id,
    deployment_status: status,
    task_ids: plan.tasks.map((task) => task.id),
    estimated_completion: plan.estimatedCompletion.toISOString(),
    critical_path: plan.criticalPath,
  };
}

/** A new deployment id: sortable by time, unique enough for concurrent requests. */
function newDeploymentId(body: unknown): string {
  const environment =
    typeof body === "object" && body !== null && "environment" in body && typeof body.environment === "string"
      ? body.environment
      : "x";
  const safe = environment.replace(/[^a-z0-9-]/g, "").slice(0, 20) || "x";
  return `${safe}-${Date.now().toString(36)}-${randomBytes(4).toString("hex")}`;
}

/** Answers one API request; never throws. */
export async function handleApiRequest(services: Services, request: ApiRequest): Promise<ApiResponse> {
  try {
    const match = matchRoute(request.path);
    if (!match)
      throw new NotFoundError(
        `no endpoint ${request.path}; the endpoints are ${Object.keys(routes).join(", ")}`,
      );
    const route = match.byMethod[request.method];
    if (!route)
      throw new MethodNotAllowedError(
        `${request.method} is not allowed on ${request.path}; use ${Object.keys(match.byMethod).join(" or ")}`,
      );
    return await route(services, request, match.params);
  } catch (error) {
    return errorResponse(error);
  }
}
