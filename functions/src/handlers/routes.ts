/**
 * Every endpoint of `/api/orchestration`, declared once: its method and path, the zod schemas of
 * its query and body (which validate the request and generate the OpenAPI document), the action
 * the caller must be allowed, and a thin handler that calls the engine or the store.
 */
import { randomBytes } from "node:crypto";
import { z } from "zod";
import type { Services } from "../app.js";
import type { Action, Principal } from "../domain/access.js";
import { ROLES } from "../domain/access.js";
import { actorOf, identitiesOf, requesterOf } from "../auth/access-control.js";
import { validateConfig } from "../domain/config.js";
import { orchestrationConfigSchema } from "../domain/config-schema.js";
import { integrationRefSchema, type Deployment } from "../domain/engine-model.js";
import { BadInputError, ForbiddenError, NotFoundError } from "../domain/errors.js";
import type { ConfigDoc } from "../domain/model.js";
import {
  historyWithinScope,
  namesWithinScope,
  outsideScope,
  outsideScopeReason,
  readScope,
  unscoped,
  withinScope,
} from "../domain/scope.js";
import { optimizeRequestSchema, recommend } from "../domain/optimize.js";
import { privacySubjectSchema } from "../domain/privacy.js";
import {
  PLANNING_OBJECTIVES,
  planningConstraintsSchema,
  planningGoalsSchema,
  planningRequestSchema,
} from "../domain/planning/request.js";
import { FirebaseMasterOrchestrator } from "../orchestrator.js";
import type { DeploymentPlan } from "../domain/planner.js";
import { buildReport, reportRequestSchema, resolveTimeRange } from "../domain/reports.js";
import type { ComplianceInput } from "../domain/compliance.js";
import type { ApiResponse } from "./http.js";
import { JOB_ROUTES } from "./job-routes.js";
import { eventSearchQuerySchema, searchEvents } from "./events-search.js";
import { deploymentTrends, trendsQuerySchema } from "./trends.js";
import { loadCapacityForecast } from "../warehouse/capacity.js";
import { loadWindowAggregates, windowAggregates } from "../warehouse/optimize.js";
import { loadWarehouseFacts, withWarehouseAggregates } from "../warehouse/report.js";

/** What a handler gets: validated inputs and who is asking. */
export interface RouteInput<Q, B> {
  query: Q;
  body: B;
  params: Record<string, string>;
  principal: Principal | undefined;
}

export interface RouteSpec<Q = unknown, B = unknown> {
  method: "GET" | "POST" | "DELETE";
  path: string;
  summary: string;
  /** `public` routes need no credentials. */
  action: Action | "public";
  query?: z.ZodType<Q>;
  body?: z.ZodType<B>;
  /** The environment the request acts on, for scoped roles and production policy. */
  environment?: (services: Services, input: RouteInput<Q, B>) => Promise<string | undefined>;
  handle: (services: Services, input: RouteInput<Q, B>) => Promise<ApiResponse>;
}

const ok = (body: unknown): ApiResponse => ({ status: 200, body });
const noQuery = z.strictObject({});

/** Checks one route against its own schemas, then erases Q and B so the table can hold every shape. */
function route<Q, B>(spec: RouteSpec<Q, B>): RouteSpec {
  return spec as unknown as RouteSpec;
}

/** A new deployment id: sortable by time, unique enough for concurrent requests. */
function newDeploymentId(environment: string): string {
  const safe = environment.replace(/[^a-z0-9-]/g, "").slice(0, 20) || "x";
  return `${safe}-${Date.now().toString(36)}-${randomBytes(4).toString("hex")}`;
}

function deploymentAnswer(id: string, status: string, plan: DeploymentPlan): ApiResponse {
  return {
    status: 202,
    body: {
      deployment_id: id,
      deployment_status: status,
      task_ids: plan.tasks.map((task) => task.id),
      estimated_completion: plan.estimatedCompletion.toISOString(),
      critical_path: plan.criticalPath,
      /** What the estimate rests on: seconds at p50 and (every task at its p90) p90, runs behind it, chance of failure. */
      estimate: {
        estimated_seconds: plan.estimatedSeconds,
        estimated_seconds_p90: plan.estimatedSecondsP90,
        runs: plan.estimates.reduce((total, estimate) => total + estimate.runs, 0),
        sources: [...new Set(plan.estimates.map((estimate) => estimate.source))].sort(),
        failure_probability: plan.failureProbability,
        most_likely_to_fail: mostLikelyToFail(plan),
      },
    },
  };
}

/**
 * What the compliance report needs beyond the history: everyone holding a role with their audit
 * records, the production environments and the audit chain's verification. It names people, so
 * only an unscoped admin may ask for it.
 */
async function complianceInput(
  { access, audit, environments }: Services,
  principal: Principal | undefined,
  history: { deployments: Deployment[] },
): Promise<ComplianceInput> {
  if (principal?.role !== "admin" || !unscoped(principal))
    throw new ForbiddenError(
      `role ${principal?.role ?? "none"} may not read the compliance report: it names people and their actions; allowed: an admin of every environment`,
    );
  const [people, records, verification, config] = await Promise.all([
    access.listRoleHolders(),
    audit.list(),
    audit.verify(),
    environments.config(),
  ]);
  return {
    people,
    audit: records,
    production: config.environments.filter((env) => env.type === "production").map((env) => env.name),
    deployments: history.deployments,
    verification,
  };
}

/** A person's data spans every environment: a caller limited to some may not export or erase it. */
function requireEveryEnvironment(principal: Principal | undefined, what: string): void {
  if (!principal || !unscoped(principal))
    throw new ForbiddenError(
      `a caller limited to environments ${JSON.stringify(principal?.environments ?? [])} may not ${what}: it spans every environment; allowed: an admin of every environment`,
    );
}

/** How many integrations `/plan` names as the most likely to fail. */
const LIKELY_FAILURES_NAMED = 3;

/** The integrations of a plan most likely to fail, from their history, likeliest first. */
function mostLikelyToFail(plan: DeploymentPlan) {
  return plan.estimates
    .flatMap((estimate) =>
      estimate.failure_probability === null
        ? []
        : [
            {
              integration: estimate.integration,
              failure_probability: estimate.failure_probability,
              runs: estimate.failure_runs,
            },
          ],
    )
    .sort(
      (a, b) => b.failure_probability - a.failure_probability || a.integration.localeCompare(b.integration),
    )
    .slice(0, LIKELY_FAILURES_NAMED);
}

const deployBody = z.strictObject({
  environment: z.string().min(1).max(64),
  integrations: z.array(integrationRefSchema).min(1).max(500),
  configuration: z.record(z.string(), z.unknown()).optional(),
});

const planBody = z.strictObject({
  environments: z.array(z.string().min(1).max(64)).min(1).max(50).optional(),
  /** Only these integrations (of the one environment named): what a deployment of them would do. */
  integrations: z.array(integrationRefSchema).min(1).max(500).optional(),
  /** With goals (and constraints), plan an architecture from them instead: see the planning section of the README. */
  goals: planningGoalsSchema.optional(),
  constraints: planningConstraintsSchema.optional(),
  objective: z.enum(PLANNING_OBJECTIVES).optional(),
  project_prefix: planningRequestSchema.shape.project_prefix,
});

const rejectBody = z.strictObject({ reason: z.string().trim().min(1).max(500) });

/** Why a person applies a recommendation: kept with the tuning action and its audit record. */
const applyBody = z.strictObject({ reason: z.string().trim().min(1).max(500) });

/** The environment a recommendation is about: its id is `{target}:{rule}:{environment}[:{integration}]`. */
const recommendationEnvironment = (id: string | undefined): string | undefined => id?.split(":")[2];

const promoteBody = z.strictObject({ from: z.string().min(1).max(64), to: z.string().min(1).max(64) });

const keyBody = z.strictObject({
  role: z.enum(ROLES),
  environments: z.array(z.string().min(1).max(64)).min(1).max(50).nullable().optional(),
  label: z.string().min(1).max(100),
});

/**
 * The deployment a request names, read once per request: the access check (its environment) and
 * the handler share the read.
 */
const deploymentsRead = new WeakMap<object, Promise<Deployment | undefined>>();
function requestedDeployment(
  { engineStore }: Services,
  input: RouteInput<unknown, unknown>,
): Promise<Deployment | undefined> {
  let read = deploymentsRead.get(input);
  if (!read) {
    read = engineStore.getDeployment(input.params.id ?? "");
    deploymentsRead.set(input, read);
  }
  return read;
}

const deploymentEnvironment = async (services: Services, input: RouteInput<unknown, unknown>) =>
  (await requestedDeployment(services, input))?.environment;

/**
 * The environments a multi-environment route works on: those named (each must be in the caller's
 * scope, else 403 naming them), or every declared one the scope reaches.
 */
async function scopedNames(
  environments: Services["environments"],
  principal: Principal | undefined,
  named: readonly string[] | undefined,
): Promise<string[]> {
  if (named !== undefined) {
    const outside = outsideScope(principal, named);
    if (principal && outside.length > 0) throw new ForbiddenError(outsideScopeReason(principal, outside));
    return [...named];
  }
  const visible = namesWithinScope(
    principal,
    (await environments.config()).environments.map((env) => env.name),
  );
  if (principal && visible.length === 0)
    throw new ForbiddenError(outsideScopeReason(principal, ["(any declared)"]));
  return visible;
}

/** The stored config as a scoped caller may see it: only its environments' entries. */
function configWithinScope(principal: Principal | undefined, current: ConfigDoc): ConfigDoc {
  if (unscoped(principal)) return current;
  const declared = current.config_data.environments;
  const environments = Array.isArray(declared)
    ? declared.filter((env: unknown) => {
        const name = typeof env === "object" && env !== null && "name" in env ? env.name : undefined;
        return typeof name === "string" && namesWithinScope(principal, [name]).length === 1;
      })
    : [];
  return { ...current, config_data: { ...current.config_data, environments } };
}

/** `POST /plan` with goals: the architecture plan, or 422 with the conflicts and their relaxations. */
async function planFromGoals(
  orchestrator: FirebaseMasterOrchestrator,
  body: z.infer<typeof planBody>,
): Promise<ApiResponse> {
  for (const field of ["environments", "integrations"] as const) {
    if (body[field] !== undefined) {
      const message = `${field}: not used when planning from goals; name the environments in goals.environments`;
      throw new BadInputError(message, [
        { path: field, found: `${field} with goals`, allowed: "goals.environments", message },
      ]);
    }
  }
  if (body.goals === undefined) {
    const message = "goals: required with constraints";
    throw new BadInputError(message, [
      { path: "goals", found: "no goals", allowed: "an object of goals", message },
    ]);
  }
  const outcome = await orchestrator.planFromGoals({
    goals: body.goals,
    ...(body.constraints ? { constraints: body.constraints } : {}),
    ...(body.objective ? { objective: body.objective } : {}),
    ...(body.project_prefix ? { project_prefix: body.project_prefix } : {}),
  });
  if (outcome.feasible) return ok({ architecture_plan: outcome.plan });
  const fields = outcome.conflicts.map((conflict) => conflict.field).join(", ");
  return {
    status: 422,
    body: {
      error: { status: 422, code: "infeasible", message: `no architecture meets these together: ${fields}` },
      architecture_plan: { feasible: false },
      infeasible: { conflicts: outcome.conflicts, relaxations: outcome.relaxations, solver: outcome.solver },
    },
  };
}

/** The API, in the order the OpenAPI document lists it. */
export const ROUTES: RouteSpec[] = [
  route({
    method: "GET",
    path: "/health",
    summary: "Liveness of the API function",
    action: "public",
    query: noQuery,
    handle: () => Promise.resolve(ok({ status: "ok" })),
  }),
  route({
    method: "GET",
    path: "/openapi.json",
    summary: "This API as an OpenAPI 3.1 document",
    action: "public",
    query: noQuery,
    handle: async () => ok((await import("./openapi.js")).openApiDocument()),
  }),
  route({
    method: "GET",
    path: "/client-config",
    summary: "The Firebase web config the dashboard signs in and listens with (public, like any web app's)",
    action: "public",
    query: noQuery,
    handle: ({ webClient }) => Promise.resolve(ok(webClient)),
  }),
  route({
    method: "GET",
    path: "/config",
    summary: "The orchestration config as last loaded",
    action: "read",
    query: noQuery,
    handle: async ({ store }, { principal }) => {
      const current = await store.currentConfig();
      if (!current)
        throw new NotFoundError("no config loaded yet; POST orchestration.json to /api/orchestration/config");
      return ok(configWithinScope(principal, current));
    },
  }),
  route({
    method: "POST",
    path: "/config",
    summary: "Validate and load an orchestration config (orchestration.json)",
    action: "manage_config",
    query: noQuery,
    // Validated by validateConfig below, for its path-naming problems; the schema documents the shape.
    body: z.unknown().meta({ ...z.toJSONSchema(orchestrationConfigSchema, { io: "input" }) }),
    handle: async ({ store, clock }, { body }) => {
      if (body === undefined) throw new BadInputError("body is empty; send the orchestration config as JSON");
      const result = validateConfig(body);
      if (!result.ok)
        throw new BadInputError(`the config has ${result.problems.length} problem(s)`, result.problems);
      const writes = await store.loadConfig(result.config, body as Record<string, unknown>, clock.now());
      return ok({
        environments: result.config.environments.map((env) => env.name),
        written: {
          config: writes.config ? 1 : 0,
          environments: writes.environments.length,
          integrations: writes.integrations.length,
        },
      });
    },
  }),
  route({
    method: "GET",
    path: "/environments",
    summary: "Environments with their integrations",
    action: "read",
    query: noQuery,
    handle: async ({ store }, { principal }) => {
      const [all, integrations] = await Promise.all([store.listEnvironments(), store.listIntegrations()]);
      const environments = all.filter((env) => namesWithinScope(principal, [env.name]).length === 1);
      return ok({
        environments: environments.map((env) => ({
          ...env,
          integrations: integrations.filter((i) => i.environment === env.name),
        })),
      });
    },
  }),
  route({
    method: "POST",
    path: "/plan",
    summary: "Plan environments: task graph, timeline, driver plans, resource requirements and differences",
    action: "plan",
    query: noQuery,
    body: planBody,
    handle: async ({ operations, environments, engine, jobs }, { body, principal }) => {
      if (body.goals !== undefined || body.constraints !== undefined) {
        return planFromGoals(new FirebaseMasterOrchestrator({ operations, engine }), body);
      }
      const names = await scopedNames(environments, principal, body.environments);
      if (body.integrations && names.length !== 1) {
        throw new BadInputError("integrations: plan a subset of integrations for exactly one environment", [
          {
            path: "environments",
            found: `${names.length} environment(s)`,
            allowed: "exactly one environment when integrations is given",
            message: `environments: found ${names.length} environment(s); allowed: exactly one environment when integrations is given`,
          },
        ]);
      }
      const { plans, differences } = await operations.plan(names, body.integrations);
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
          estimated_seconds_p90: plan.estimatedSecondsP90,
          failure_probability: plan.failureProbability,
          most_likely_to_fail: mostLikelyToFail(plan),
          critical_path: plan.criticalPath,
          tasks: plan.timeline.map((entry) => {
            const task = plan.tasks.find((candidate) => candidate.id === entry.id);
            const integration = task?.integration ?? entry.id;
            return {
              ...entry,
              integration,
              dependencies: task?.dependencies ?? [],
              estimate: plan.estimates.find((estimate) => estimate.integration === integration) ?? null,
            };
          }),
        })),
        resource_requirements: plans.map(({ env }) => {
          // One entry per functions instance: each is its own Cloud Functions service.
          const functions = env.integrations.flatMap((integration) =>
            integration.kind === "functions"
              ? [
                  {
                    integration: integration.name,
                    memory: integration.settings.memory,
                    min_instances: integration.settings.min_instances,
                    max_instances: integration.settings.max_instances,
                  },
                ]
              : [],
          );
          return {
            environment: env.name,
            concurrency: env.concurrency,
            functions: functions[0] ?? null,
            functions_instances: functions,
          };
        }),
        differences,
        scheduled_jobs: await jobs.plan(),
      });
    },
  }),
  route({
    method: "POST",
    path: "/deploy",
    summary: "Request a deployment: plans the task graph and runs it through the engine",
    action: "deploy",
    query: noQuery,
    body: deployBody,
    environment: (_services, { body }) => Promise.resolve(body.environment),
    handle: async ({ engine }, { body, principal }) => {
      const id = newDeploymentId(body.environment);
      const { plan, doc } = await engine.requestDeployment(
        id,
        { ...body, configuration: body.configuration ?? {} },
        requesterOf(principal),
      );
      return deploymentAnswer(id, doc.status, plan);
    },
  }),
  route({
    method: "GET",
    path: "/deployments/{id}",
    summary: "A deployment and its tasks",
    action: "read",
    query: noQuery,
    environment: deploymentEnvironment,
    handle: async (services, input) => {
      const id = input.params.id ?? "";
      const deployment = await requestedDeployment(services, input);
      if (!deployment) throw new NotFoundError(`deployment ${id} does not exist`);
      const tasks = await services.engineStore.tasksOf(id);
      return ok({
        deployment,
        tasks: tasks.map((task) => ({
          ...task,
          driver_label: task.driver === "simulated" ? "simulated (test driver)" : task.driver,
        })),
      });
    },
  }),
  route({
    method: "GET",
    path: "/deployments/{id}/picture",
    summary:
      "A deployment's dependency graph or Gantt timeline as it is now, drawn server-side as SVG or PNG",
    action: "read",
    query: z.strictObject({
      kind: z.enum(["graph", "gantt"]),
      format: z.enum(["svg", "png"]).default("svg"),
    }),
    environment: deploymentEnvironment,
    handle: async (services, input) => {
      const { engineStore, clock } = services;
      const { params, query } = input;
      const id = params.id ?? "";
      const deployment = await requestedDeployment(services, input);
      if (!deployment) throw new NotFoundError(`deployment ${id} does not exist`);
      const tasks = await engineStore.tasksOf(id);
      const { FirebaseVisualOrchestrator } = await import("../visual/visual-orchestrator.js");
      const svg = new FirebaseVisualOrchestrator().deployment(deployment, tasks, clock.now())[query.kind];
      const filename = `${id}-${query.kind}.${query.format}`;
      const description = { deployment_id: id, kind: query.kind, format: query.format };
      if (query.format === "svg")
        return { status: 200, body: description, raw: { contentType: "image/svg+xml", data: svg, filename } };
      // Loaded on demand: the rasterizer is a native module that other requests do not need.
      const { svgToPng } = await import("../visual/report-raster.js");
      return {
        status: 200,
        body: description,
        raw: { contentType: "image/png", data: svgToPng(svg, 2), filename },
      };
    },
  }),
  route({
    method: "POST",
    path: "/deployments/{id}/cancel",
    summary: "Cancel a deployment: pending tasks are cancelled, running ones finish",
    action: "cancel",
    query: noQuery,
    environment: deploymentEnvironment,
    handle: async ({ engine }, { params }) => ok({ deployment: await engine.cancel(params.id ?? "") }),
  }),
  route({
    method: "POST",
    path: "/deployments/{id}/approve",
    summary:
      "Approve a production deployment that awaits approval (a second person: never its requester); it then starts",
    action: "approve",
    query: noQuery,
    environment: deploymentEnvironment,
    handle: async ({ engine }, { params, principal }) =>
      ok({
        deployment: await engine.approve(params.id ?? "", identitiesOf(principal), actorOf(principal)),
      }),
  }),
  route({
    method: "POST",
    path: "/deployments/{id}/reject",
    summary: "Reject a production deployment that awaits approval, saying why; it ends cancelled",
    action: "approve",
    query: noQuery,
    body: rejectBody,
    environment: deploymentEnvironment,
    handle: async ({ engine }, { params, body, principal }) =>
      ok({
        deployment: await engine.reject(
          params.id ?? "",
          identitiesOf(principal),
          actorOf(principal),
          body.reason,
        ),
      }),
  }),
  route({
    method: "POST",
    path: "/environments/{name}/provision",
    summary: "Provision an environment with every integration it declares",
    action: "deploy",
    query: noQuery,
    environment: (_services, { params }) => Promise.resolve(params.name),
    handle: async ({ operations }, { params, principal }) => {
      const name = params.name ?? "";
      const id = newDeploymentId(name);
      const { plan, doc } = await operations.provision(id, name, requesterOf(principal));
      return deploymentAnswer(id, doc.status, plan);
    },
  }),
  route({
    method: "POST",
    path: "/promote",
    summary:
      "Promote one environment's artifacts to another: the source's verified releases, applied with the target's own overrides, verified against the source's hashes, rolled back as one unit (409 naming every reason it is refused)",
    action: "deploy",
    query: noQuery,
    body: promoteBody,
    environment: (_services, { body }) => Promise.resolve(body.to),
    handle: async ({ operations }, { body, principal }) => {
      const id = newDeploymentId(body.to);
      const { plan, doc, promotion_plan } = await operations.promote(id, body, requesterOf(principal));
      const answer = deploymentAnswer(id, doc.status, plan);
      return { ...answer, body: { ...(answer.body as Record<string, unknown>), promotion_plan } };
    },
  }),
  route({
    method: "POST",
    path: "/promote/plan",
    summary:
      "The promotion plan of one environment to another, changing nothing: per integration the source's release and hashes, the target's overrides, what would change, and why it would be refused",
    action: "read",
    query: noQuery,
    body: promoteBody,
    environment: (_services, { body }) => Promise.resolve(body.to),
    handle: async ({ operations }, { body }) =>
      ok({ promotion_plan: await operations.promotionPlan(body, "read") }),
  }),
  route({
    method: "GET",
    path: "/status",
    summary: "Health check of every environment and integration (or one environment)",
    action: "read",
    query: z.strictObject({ environment: z.string().min(1).max(64).optional() }),
    environment: (_services, { query }) => Promise.resolve(query.environment),
    // Read-only: a viewer's look writes nothing; the scheduled check records health and alerts.
    handle: async ({ health, environments }, { query, principal }) =>
      ok(
        await health.status(
          query.environment !== undefined
            ? [query.environment]
            : unscoped(principal)
              ? undefined
              : await scopedNames(environments, principal, undefined),
        ),
      ),
  }),
  route({
    method: "GET",
    path: "/doctor",
    summary:
      "Read-only check that a live environment's credentials work and hold every permission its live drivers need, naming each missing one with its role",
    action: "read",
    query: z.strictObject({ environment: z.string().min(1).max(64) }),
    environment: (_services, { query }) => Promise.resolve(query.environment),
    handle: async ({ environments, google }, { query }) => {
      const { runDoctor } = await import("../drivers/live/doctor.js");
      return ok(await runDoctor(await environments.environment(query.environment), google));
    },
  }),
  route({
    method: "GET",
    path: "/alerts",
    summary: "Alerts, newest first",
    action: "read",
    query: z.strictObject({ status: z.enum(["open", "resolved"]).optional() }),
    handle: async ({ store }, { query, principal }) =>
      ok({ alerts: withinScope(principal, await store.listAlerts(query.status)) }),
  }),
  route({
    method: "POST",
    path: "/optimize",
    summary:
      "Optimization recommendations from the deployment and health history, and the capacity forecast: events, deployments and Firestore operations a day over the next 30 days from the warehouse, against the plan's limits and budget",
    action: "optimize",
    query: noQuery,
    body: optimizeRequestSchema,
    handle: async ({ history, clock, warehouse, environments }, { body, principal }) => {
      const now = clock.now();
      const range = { from: new Date(now.getTime() - 30 * 24 * 3600 * 1000), to: now };
      const loaded = await history.load(range);
      const config = await environments.config();
      const named = body.constraints.environments;
      const scope =
        unscoped(principal) && named === undefined
          ? null
          : namesWithinScope(principal, named ?? config.environments.map((env) => env.name));
      const store = await warehouse();
      let aggregates = null;
      let unanswered: string | null = null;
      if (store) {
        try {
          aggregates = await loadWindowAggregates(store, range, scope);
        } catch (error) {
          unanswered = `the warehouse did not answer (${(error as Error).message}): counts and durations come from the documents`;
        }
      }
      const result = recommend(historyWithinScope(principal, loaded), body, now, aggregates);
      return ok({
        ...result,
        notes: unanswered ? [...result.notes, unanswered] : result.notes,
        capacity_forecast: await loadCapacityForecast(store, config.capacity, now, scope),
      });
    },
  }),
  route({
    method: "GET",
    path: "/capacity",
    summary:
      "The capacity forecast alone (what the dashboard draws): events, deployments and Firestore operations a day over the next 30 days from the warehouse, the last 28 days as they were, against the plan's limits and budget",
    action: "read",
    query: z.strictObject({ environment: z.string().min(1).max(64).optional() }),
    environment: (_services, { query }) => Promise.resolve(query.environment),
    handle: async ({ clock, warehouse, environments }, { query, principal }) => {
      const config = await environments.config();
      const named = query.environment === undefined ? undefined : [query.environment];
      const scope =
        unscoped(principal) && named === undefined
          ? null
          : namesWithinScope(principal, named ?? config.environments.map((env) => env.name));
      return ok({
        capacity_forecast: await loadCapacityForecast(await warehouse(), config.capacity, clock.now(), scope),
      });
    },
  }),
  route({
    method: "POST",
    path: "/optimize/{id}/apply",
    summary:
      "Apply a current recommendation's setting change (admin): a tuning override recorded with who, when and why, watched as a canary over the next deployments and reverted, with an alert, if they do worse than it allows",
    action: "manage_config",
    query: noQuery,
    body: applyBody,
    environment: (_services, { params }) => Promise.resolve(recommendationEnvironment(params.id)),
    handle: async ({ tuning }, { params, body, principal }) => {
      const { id, action } = await tuning.apply(
        params.id ?? "",
        { mode: "manual", by: requesterOf(principal), actor: actorOf(principal), reason: body.reason },
        (loaded) => historyWithinScope(principal, loaded),
        readScope(principal),
      );
      return { status: 201, body: { tuning_action: { ...action, id } } };
    },
  }),
  route({
    method: "GET",
    path: "/tuning",
    summary:
      "Tuning actions, newest first: each change applied (before, after, evidence, expected gain, who, when, why), its canary and whether it was kept or reverted",
    action: "read",
    query: z.strictObject({ limit: z.coerce.number().int().min(1).max(500).default(50) }),
    handle: async ({ tuning }, { query, principal }) => {
      const actions = await tuning.list(query.limit);
      return ok({
        tuning_actions: actions.filter(
          (action) => namesWithinScope(principal, [action.change.environment]).length === 1,
        ),
      });
    },
  }),
  route({
    method: "GET",
    path: "/reports",
    summary: "A report over a time range, as JSON or a document (HTML, Markdown, CSV, PDF, PNG)",
    action: "read",
    query: reportRequestSchema,
    environment: (_services, { query }) => Promise.resolve(query.environment),
    handle: async (services, { query, principal }) => {
      const { history, clock, warehouse } = services;
      const now = clock.now();
      const range = resolveTimeRange(query.time_range, now);
      const loaded = historyWithinScope(principal, await history.load(range, query.environment));
      const compliance =
        query.report_type === "compliance" ? await complianceInput(services, principal, loaded) : undefined;
      const store = await warehouse();
      const scope = readScope(principal, query.environment);
      const facts = store ? await loadWarehouseFacts(store, range, scope) : null;
      const report = facts
        ? withWarehouseAggregates(buildReport(loaded, query, now, compliance, windowAggregates(facts)), facts)
        : buildReport(loaded, query, now, compliance);
      if (query.format === "json") return ok(report);
      // Loaded on demand: the rasterizer and PDF writer are only needed for documents.
      const { renderReportDocument } = await import("../visual/report-documents.js");
      const document = await renderReportDocument(report, query.format);
      return {
        status: 200,
        body: { filename: document.filename, content_type: document.contentType },
        raw: document,
      };
    },
  }),
  route({
    method: "GET",
    path: "/keys",
    summary: "API keys (never their secrets)",
    action: "manage_keys",
    query: noQuery,
    handle: async ({ access }) => ok({ keys: await access.listKeys() }),
  }),
  route({
    method: "POST",
    path: "/keys",
    summary: "Create an API key for a CI system; the key is shown once",
    action: "manage_keys",
    query: noQuery,
    body: keyBody,
    handle: async ({ access }, { body, principal }) => {
      if (!principal) throw new Error("manage_keys is never public");
      const created = await access.createKey(
        { role: body.role, environments: body.environments ?? null, label: body.label },
        principal,
      );
      return { status: 201, body: created };
    },
  }),
  route({
    method: "DELETE",
    path: "/keys/{id}",
    summary: "Revoke an API key",
    action: "manage_keys",
    query: noQuery,
    handle: async ({ access }, { params, principal }) => {
      if (!principal) throw new Error("manage_keys is never public");
      await access.revokeKey(params.id ?? "", principal);
      return ok({ revoked: params.id });
    },
  }),
  route({
    method: "POST",
    path: "/privacy/export",
    summary:
      "Everything the control plane holds about a person, named by email or uid: the documents that name them, their audit records, their warehouse events",
    action: "manage_personal_data",
    query: noQuery,
    body: privacySubjectSchema,
    handle: async ({ access, personalData }, { body, principal }) => {
      requireEveryEnvironment(principal, "export a person's data");
      return ok(await personalData.export(await access.resolvePerson(body)));
    },
  }),
  route({
    method: "POST",
    path: "/privacy/erase",
    summary:
      "Erase a person: every value naming them becomes the same keyed pseudonym; the audit chain still verifies",
    action: "manage_personal_data",
    query: noQuery,
    body: privacySubjectSchema,
    handle: async ({ access, personalData }, { body, principal }) => {
      requireEveryEnvironment(principal, "erase a person's data");
      return ok(await personalData.erase(await access.resolvePerson(body)));
    },
  }),
  route({
    method: "POST",
    path: "/jobs/sweep",
    summary: "Run the lease sweeper now (Cloud Scheduler runs it every minute)",
    action: "run_jobs",
    query: noQuery,
    handle: async ({ engine, audit }) => {
      // As the scheduled sweeper does: the engine's repairs, then the audit chain catches up.
      const swept = await engine.sweep();
      return ok({ ...swept, audit: await audit.drain({ timeoutMs: 20_000 }) });
    },
  }),
  route({
    method: "GET",
    path: "/events/search",
    summary: "Full-text search of orchestration events in the warehouse, in the caller's environments",
    action: "read",
    query: eventSearchQuerySchema,
    environment: (_services, { query }) => Promise.resolve(query.environment),
    handle: (services, { query, principal }) => searchEvents(services, query, principal),
  }),
  route({
    method: "GET",
    path: "/trends",
    summary:
      "Deployment trends per UTC day from the warehouse (what the dashboard draws): deployments by outcome, success rate, p50/p95 duration, in the caller's environments",
    action: "read",
    query: trendsQuerySchema,
    environment: (_services, { query }) => Promise.resolve(query.environment),
    handle: (services, { query, principal }) => deploymentTrends(services, query, principal),
  }),
  route({
    method: "POST",
    path: "/jobs/health",
    summary:
      "Run a health check now and record it: health, alerts opened or resolved (Cloud Scheduler runs it every minute)",
    action: "run_jobs",
    query: z.strictObject({ environment: z.string().min(1).max(64).optional() }),
    environment: (_services, { query }) => Promise.resolve(query.environment),
    handle: async ({ health }, { query }) => ok(await health.check(query.environment)),
  }),
  ...JOB_ROUTES,
];
