/** The `/api/orchestration/*` routes: parse, call the domain, persist through the store. */
import type { Services } from "../app.js";
import { validateConfig } from "../domain/config.js";
import { BadInputError, NotFoundError } from "../domain/errors.js";
import { MethodNotAllowedError, errorResponse, type ApiRequest, type ApiResponse } from "./http.js";

type Route = (services: Services, request: ApiRequest) => Promise<ApiResponse>;

const ok = (body: unknown): ApiResponse => ({ status: 200, body });

const routes: Record<string, Partial<Record<string, Route>>> = {
  "/health": {
    GET: () => Promise.resolve(ok({ status: "ok" })),
  },
  "/config": {
    GET: async ({ store }) => {
      const current = await store.currentConfig();
      if (!current) throw new NotFoundError("no config loaded yet; POST orchestration.json to /api/orchestration/config");
      return ok(current);
    },
    POST: async ({ store, clock }, request) => {
      if (request.body === undefined) throw new BadInputError("body is empty; send the orchestration config as JSON");
      const result = validateConfig(request.body);
      if (!result.ok) throw new BadInputError(`the config has ${result.problems.length} problem(s)`, result.problems);
      const writes = await store.loadConfig(result.config, request.body as Record<string, unknown>, clock.now());
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
      const [environments, integrations] = await Promise.all([store.listEnvironments(), store.listIntegrations()]);
      return ok({
        environments: environments.map((env) => ({ ...env, integrations: integrations.filter((i) => i.environment === env.name) })),
      });
    },
  },
  "/status": {
    GET: async ({ store, clock }, request) => {
      const name = request.query.environment;
      const environments = name === undefined ? await store.listEnvironments() : [await store.getEnvironment(name)];
      if (environments.some((env) => env === undefined)) throw new NotFoundError(`environment "${name}" is not declared`);
      const integrations = await store.listIntegrations(name);
      const declared = environments.filter((env) => env !== undefined);
      return ok({
        system_health: {
          status: declared.length === 0 ? "empty" : "unchecked",
          checked_at: clock.now().toISOString(),
          environments: declared.length,
          integrations: integrations.length,
        },
        environment_status: declared.map((env) => ({ name: env.name, type: env.type, mode: env.mode, status: env.status })),
        integration_status: integrations.map((i) => ({ environment: i.environment, name: i.name, status: i.status })),
      });
    },
  },
};

/** Answers one API request; never throws. */
export async function handleApiRequest(services: Services, request: ApiRequest): Promise<ApiResponse> {
  try {
    const byMethod = routes[request.path];
    if (!byMethod) throw new NotFoundError(`no endpoint ${request.path}; see /api/orchestration/health, /config, /environments, /status`);
    const route = byMethod[request.method];
    if (!route) throw new MethodNotAllowedError(`${request.method} is not allowed on ${request.path}; use ${Object.keys(byMethod).join(" or ")}`);
    return await route(services, request);
  } catch (error) {
    return errorResponse(error);
  }
}
