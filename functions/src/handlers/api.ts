/** The `/api/orchestration/*` routes: parse, call the domain, persist through the store. */
import { randomBytes } from "node:crypto";
import type { Services } from "../app.js";
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
    GET: async ({ store, clock }, request) => {
      const name = request.query.environment;
      const environments =
        name === undefined ? await store.listEnvironments() : [await store.getEnvironment(name)];
      if (environments.some((env) => env === undefined))
        throw new NotFoundError(`environment "${name}" is not declared`);
      const integrations = await store.listIntegrations(name);
      const declared = environments.filter((env) => env !== undefined);
      return ok({
        system_health: {
          status: declared.length === 0 ? "empty" : "unchecked",
          checked_at: clock.now().toISOString(),
          environments: declared.length,
          integrations: integrations.length,
        },
        environment_status: declared.map((env) => ({
          name: env.name,
          type: env.type,
          mode: env.mode,
          status: env.status,
        })),
        integration_status: integrations.map((i) => ({
          environment: i.environment,
          name: i.name,
          status: i.status,
        })),
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
