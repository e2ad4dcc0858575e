/**
 * Answers `/api/orchestration/*`: finds the route, authenticates the caller, validates the query
 * and body against the route's schemas (unknown fields refused), authorizes the action for the
 * environment it touches, runs the handler, and audits every mutating request, refused or not.
 */
import type { Services } from "../app.js";
import { actorOf } from "../auth/access-control.js";
import { authorize, type AccessDecision, type Principal } from "../domain/access.js";
import { BadInputError, ForbiddenError, NotFoundError, UnauthenticatedError } from "../domain/errors.js";
import { zodIssueToProblem } from "../domain/problems.js";
import { MethodNotAllowedError, errorResponse, type ApiRequest, type ApiResponse } from "./http.js";
import { ROUTES, type RouteInput, type RouteSpec } from "./routes.js";
import { z } from "zod";

function matchRoute(method: string, path: string): { spec: RouteSpec; params: Record<string, string> } {
  const parts = path.split("/");
  const candidates: { spec: RouteSpec; params: Record<string, string> }[] = [];
  for (const spec of ROUTES) {
    const expected = spec.path.split("/");
    if (expected.length !== parts.length) continue;
    const params: Record<string, string> = {};
    const matches = expected.every((segment, index) => {
      const actual = decodeURIComponent(parts[index] ?? "");
      if (segment.startsWith("{")) {
        params[segment.slice(1, -1)] = actual;
        // ':' for recommendation ids (`cost:lower-limit:dev`); nothing that could climb a path.
        return /^[A-Za-z0-9_:-]{1,128}$/.test(actual);
      }
      return segment === actual;
    });
    if (matches) candidates.push({ spec, params });
  }
  if (candidates.length === 0)
    throw new NotFoundError(`no endpoint ${path}; see /api/orchestration/openapi.json`);
  const found = candidates.find((candidate) => candidate.spec.method === method);
  if (!found) {
    throw new MethodNotAllowedError(
      `${method} is not allowed on ${path}; use ${candidates.map((c) => c.spec.method).join(" or ")}`,
    );
  }
  return found;
}

function parse<T>(schema: z.ZodType<T>, value: unknown, what: string): T {
  const parsed = schema.safeParse(value);
  if (parsed.success) return parsed.data;
  const problems = parsed.error.issues.map((issue) => zodIssueToProblem(issue, value, schema));
  throw new BadInputError(
    `the ${what} has ${problems.length} problem(s): ${problems.map((p) => p.message).join("; ")}`,
    problems,
  );
}

/**
 * Authorizes the request. When it names an environment, the caller's scope is always checked, and
 * the environment's type and the production policy come from the config; when the config cannot
 * be read the environment is treated as production under a policy that requires admin (deny, never
 * widen).
 */
async function check(
  services: Services,
  spec: RouteSpec,
  input: RouteInput<unknown, unknown>,
): Promise<void> {
  if (spec.action === "public") return;
  const environment = spec.environment ? await spec.environment(services, input) : undefined;
  let decision: AccessDecision;
  if (environment === undefined) {
    decision = authorize(input.principal, spec.action);
  } else {
    const config = await services.environments.config().catch((error: unknown) => {
      services.log.warn(
        "access check: the config could not be read; treating the environment as production",
        {
          environment,
          error: error instanceof Error ? error.message : String(error),
        },
      );
      return undefined;
    });
    const declared = config?.environments.find((env) => env.name === environment);
    decision = authorize(
      input.principal,
      spec.action,
      { environment, type: declared?.type ?? "unknown" },
      { productionRequiresAdmin: config ? config.access.production_requires_admin : true },
    );
  }
  if (!decision.allowed) {
    throw decision.status === 401
      ? new UnauthenticatedError(decision.reason)
      : new ForbiddenError(decision.reason);
  }
}

/** Answers one API request; never throws. */
export async function handleApiRequest(services: Services, request: ApiRequest): Promise<ApiResponse> {
  let principal: Principal | undefined;
  let spec: RouteSpec | undefined;
  let params: Record<string, string> = {};
  let response: ApiResponse;
  try {
    ({ spec, params } = matchRoute(request.method, request.path));
    if (spec.action !== "public") principal = await services.access.authenticate(request.headers);
    if (spec.action !== "public" && !principal)
      throw new UnauthenticatedError(
        "sign in: send Authorization: Bearer <Firebase ID token> or X-Api-Key: <key>",
      );
    const query = parse(spec.query ?? z.strictObject({}), request.query, "query");
    if (!spec.body && request.body !== undefined)
      throw new BadInputError(`${request.method} ${spec.path} takes no body`);
    const body = spec.body ? parse(spec.body, request.body ?? {}, "body") : undefined;
    const input: RouteInput<unknown, unknown> = { query, body, params, principal };
    await check(services, spec, input);
    response = await spec.handle(services, input);
  } catch (error) {
    response = errorResponse(error);
    if (response.status >= 500)
      services.log.error("request failed", {
        method: request.method,
        path: request.path,
        error: error instanceof Error ? (error.stack ?? error.message) : String(error),
      });
  }
  if (request.method !== "GET") {
    const answer = response.body as { deployment_id?: unknown; error?: { message?: string } };
    const deploymentId = typeof answer.deployment_id === "string" ? answer.deployment_id : null;
    try {
      await services.audit.append({
        actor: actorOf(principal),
        action: `${request.method} ${spec?.path ?? request.path}`,
        target: deploymentId ?? params.id ?? params.name ?? null,
        source: request.ip ?? null,
        outcome: response.status < 400 ? "ok" : response.status < 500 ? "refused" : "error",
        status: response.status,
        correlation_id: deploymentId,
        detail: answer.error?.message ?? null,
      });
    } catch (error) {
      // The action already happened: answering 500 would invite a retry that acts twice.
      services.log.error("audit append failed", {
        error: error instanceof Error ? error.message : String(error),
      });
    }
  }
  return response;
}
