import assert from "node:assert/strict";
import fc from "fast-check";
import { validateConfig } from "../../functions/src/domain/config.js";
import type { ResolvedEnvironment } from "../../functions/src/domain/config-schema.js";
import type { DeploymentRequest } from "../../functions/src/domain/engine-model.js";
import { topologicalOrder } from "../../functions/src/domain/graph.js";
import {
  INTEGRATION_CATALOG,
  INTEGRATION_KINDS,
  type IntegrationKind,
} from "../../functions/src/domain/integrations.js";
import {
  planDeployment,
  retryDelayMs,
  taskId,
  type DeploymentPlan,
} from "../../functions/src/domain/planner.js";
import type { Problem } from "../../functions/src/domain/problems.js";
import { exampleConfig } from "../support/config-builder.js";

const NOW = new Date("2025-03-01T12:00:00.000Z");
const DEPLOYMENT = "dep-1";

function environment(name: string): ResolvedEnvironment {
  const result = validateConfig(exampleConfig());
  assert.ok(result.ok, "the example config is valid");
  const env = result.config.environments.find((candidate) => candidate.name === name);
  assert.ok(env, `the example config declares ${name}`);
  return env;
}

/** An environment that declares only some integration kinds. */
function environmentWith(kinds: readonly IntegrationKind[], base = environment("dev")): ResolvedEnvironment {
  return {
    ...base,
    integrations: base.integrations.filter((integration) => kinds.includes(integration.kind)),
  };
}

/** The environment with instances declared besides its kinds' default ones (each with its kind's settings). */
function withInstances(names: readonly string[], base = environment("dev")): ResolvedEnvironment {
  const extra = names.filter((name) => !base.integrations.some((integration) => integration.name === name));
  return {
    ...base,
    integrations: [
      ...base.integrations,
      ...extra.map((name) => {
        const kind = name.split(":")[0];
        const of = base.integrations.find((integration) => integration.kind === kind);
        assert.ok(of, `dev declares ${kind}`);
        return { ...of, name };
      }),
    ],
  };
}

function request(integrations: string[], configuration: Record<string, unknown> = {}): DeploymentRequest {
  return { environment: "dev", integrations, configuration, requested_by: "planner.spec" };
}

function plan(
  integrations: string[],
  configuration: Record<string, unknown> = {},
  env = environment("dev"),
): DeploymentPlan {
  const result = planDeployment(DEPLOYMENT, request(integrations, configuration), env, NOW);
  assert.ok(
    result.ok,
    `expected a plan, got ${result.ok ? "" : result.problems.map((p) => p.message).join("; ")}`,
  );
  return result.plan;
}

function problemsOf(
  integrations: string[],
  configuration: Record<string, unknown> = {},
  env = environment("dev"),
): Problem[] {
  const result = planDeployment(DEPLOYMENT, request(integrations, configuration), env, NOW);
  assert.ok(!result.ok, "expected the plan to be refused");
  return result.problems;
}

/** The one problem of a refused plan, checked for its path and for naming what is wrong. */
function assertOneProblem(problems: Problem[], path: string, ...mentions: string[]): Problem {
  assert.equal(problems.length, 1, `expected one problem, got: ${problems.map((p) => p.message).join("; ")}`);
  const [problem] = problems;
  assert.ok(problem);
  assert.equal(problem.path, path);
  assert.ok(problem.message.startsWith(`${path}: `), `message starts with its path: ${problem.message}`);
  for (const mention of mentions)
    assert.ok(problem.message.includes(mention), `"${problem.message}" should mention ${mention}`);
  return problem;
}

/** Task ids by integration name, for readable assertions. */
function byIntegration(planned: DeploymentPlan): Map<string, DeploymentPlan["tasks"][number]> {
  return new Map(planned.tasks.map((task) => [task.integration, task]));
}

function dependsOn(planned: DeploymentPlan, integration: string, dependency: string): boolean {
  const task = byIntegration(planned).get(integration);
  assert.ok(task, `${integration} is planned`);
  return task.dependencies.includes(taskId(DEPLOYMENT, dependency));
}

/** Checks the structure every plan must have, whatever was asked for. */
function assertWellFormed(planned: DeploymentPlan, requested: readonly string[], concurrency: number): void {
  const ids = planned.tasks.map((task) => task.id);
  // Nothing requested is dropped or duplicated.
  assert.deepEqual(planned.tasks.map((task) => task.integration).sort(), [...requested].sort());
  assert.equal(new Set(ids).size, ids.length);
  for (const task of planned.tasks) assert.equal(task.id, taskId(DEPLOYMENT, task.integration));

  // Every dependency is inside the plan, tasks come in dependency order, and the graph has no cycle.
  const position = new Map(ids.map((id, index) => [id, index]));
  const tasks = new Map(planned.tasks.map((task) => [task.id, task]));
  for (const task of planned.tasks) {
    for (const dependency of task.dependencies) {
      assert.ok(position.has(dependency), `${task.id} depends on ${dependency}, which is not in the plan`);
      assert.ok(
        (position.get(dependency) ?? Infinity) < (position.get(task.id) ?? -1),
        `${task.id} is listed before its dependency ${dependency}`,
      );
    }
    // Dependents are exactly the inverse of dependencies.
    const expectedDependents = planned.tasks
      .filter((other) => other.dependencies.includes(task.id))
      .map((other) => other.id);
    assert.deepEqual([...task.dependents].sort(), expectedDependents.sort(), `dependents of ${task.id}`);
    assert.equal(task.status, task.dependencies.length === 0 ? "ready" : "blocked");
    assert.deepEqual(task.ready_at, task.dependencies.length === 0 ? NOW : null);
  }
  assert.ok("order" in topologicalOrder(ids, (id) => tasks.get(id)?.dependencies ?? []));

  // The timeline covers every task once, respects dependencies and the environment's concurrency.
  const timeline = new Map(planned.timeline.map((entry) => [entry.id, entry]));
  assert.equal(timeline.size, planned.tasks.length);
  assert.deepEqual([...timeline.keys()].sort(), [...ids].sort());
  for (const task of planned.tasks) {
    const entry = timeline.get(task.id);
    assert.ok(entry);
    for (const dependency of task.dependencies) {
      assert.ok(
        entry.start >= (timeline.get(dependency)?.finish ?? Infinity),
        `${task.id} is scheduled before ${dependency} finishes`,
      );
    }
  }
  const intervals = planned.timeline.filter((entry) => entry.finish > entry.start);
  for (const at of intervals) {
    const overlapping = intervals.filter(
      (entry) => entry.start <= at.start && at.start < entry.finish,
    ).length;
    assert.ok(
      overlapping <= concurrency,
      `${overlapping} tasks run at ${at.start}s, over the limit of ${concurrency}`,
    );
  }
  assert.equal(planned.estimatedSeconds, Math.max(0, ...planned.timeline.map((entry) => entry.finish)));
  assert.equal(planned.estimatedCompletion.getTime(), NOW.getTime() + planned.estimatedSeconds * 1000);

  // The critical path is a chain of real dependencies.
  for (let i = 0; i + 1 < planned.criticalPath.length; i++) {
    const later = tasks.get(planned.criticalPath[i + 1] ?? "");
    assert.ok(
      later?.dependencies.includes(planned.criticalPath[i] ?? ""),
      "the critical path follows dependencies",
    );
  }
}

describe("planner", () => {
  describe("planDeployment of dev with all ten integrations", () => {
    const all = [...INTEGRATION_KINDS];
    const planned = () => plan(all);

    it("plans one task per integration, with deterministic ids", () => {
      const first = planned();
      assert.equal(first.tasks.length, 10);
      assert.deepEqual(
        first.tasks.map((task) => task.id).sort(),
        all.map((kind) => `${DEPLOYMENT}--${kind}`).sort(),
      );
      assert.deepEqual(
        plan([...all].reverse()).tasks.map((task) => task.id),
        first.tasks.map((task) => task.id),
        "the order the integrations are asked for does not matter",
      );
    });

    it("deploys functions after auth, firestore and storage", () => {
      for (const dependency of ["auth", "firestore", "storage"])
        assert.ok(dependsOn(planned(), "functions", dependency), dependency);
    });

    it("deploys hosting after functions", () => {
      assert.ok(dependsOn(planned(), "hosting", "functions"));
    });

    it("deploys backup after firestore", () => {
      assert.ok(dependsOn(planned(), "backup", "firestore"));
    });

    it("puts security rules in before firestore data", () => {
      assert.ok(dependsOn(planned(), "firestore", "security"));
      const ids = planned().tasks.map((task) => task.integration);
      assert.ok(ids.indexOf("security") < ids.indexOf("firestore"));
    });

    it("deploys monitoring last, after every other integration", () => {
      const result = planned();
      const monitoring = byIntegration(result).get("monitoring");
      assert.ok(monitoring);
      assert.deepEqual(
        [...monitoring.dependencies].sort(),
        all
          .filter((kind) => kind !== "monitoring")
          .map((kind) => taskId(DEPLOYMENT, kind))
          .sort(),
      );
      assert.equal(result.tasks.at(-1)?.integration, "monitoring");
      assert.deepEqual(monitoring.dependents, []);
      const finish = Math.max(
        ...result.timeline.filter((entry) => entry.id !== monitoring.id).map((entry) => entry.finish),
      );
      assert.equal(result.timeline.find((entry) => entry.id === monitoring.id)?.start, finish);
    });

    it("makes only tasks without dependencies ready, at the planning time", () => {
      const result = planned();
      const ready = result.tasks.filter((task) => task.status === "ready");
      assert.deepEqual(
        ready.map((task) => task.integration),
        ["security"],
      );
      assert.deepEqual(ready[0]?.ready_at, NOW);
      for (const task of result.tasks.filter((candidate) => candidate.status === "blocked"))
        assert.equal(task.ready_at, null);
    });

    it("fills each task from the catalog, the environment and the engine defaults", () => {
      const functions = byIntegration(planned()).get("functions");
      assert.ok(functions);
      assert.equal(functions.name, "dev/functions");
      assert.equal(functions.environment, "dev");
      assert.equal(functions.kind, "functions");
      assert.equal(functions.priority, INTEGRATION_CATALOG.functions.priority);
      assert.equal(functions.estimated_duration, INTEGRATION_CATALOG.functions.estimatedSeconds);
      assert.equal(functions.max_retries, 3);
      assert.equal(functions.attempt, 0);
      assert.equal(functions.retry_count, 0);
      assert.equal(
        functions.driver,
        "integration",
        "the real drivers unless a deployment asks for the simulated one",
      );
      assert.equal(functions.simulation, null);
      assert.deepEqual(functions.created_at, NOW);
    });

    it("is well formed: dependents invert dependencies, the timeline respects the limit", () => {
      assertWellFormed(planned(), all, environment("dev").concurrency);
    });

    it("runs at most the environment's concurrency at once", () => {
      const env = { ...environment("dev"), concurrency: 1 };
      const result = plan(all, {}, env);
      assertWellFormed(result, all, 1);
      const total = all.reduce((sum, kind) => sum + INTEGRATION_CATALOG[kind].estimatedSeconds, 0);
      assert.equal(result.estimatedSeconds, total);
    });
  });

  describe("planDeployment options", () => {
    it("adds depends_on ordering on top of the catalog", () => {
      const without = plan(["auth", "storage"]);
      assert.ok(!dependsOn(without, "storage", "auth"), "the catalog does not order storage after auth");
      const result = plan(["auth", "storage"], { depends_on: { storage: ["auth"] } });
      assert.ok(dependsOn(result, "storage", "auth"));
      assert.deepEqual(byIntegration(result).get("auth")?.dependents, [taskId(DEPLOYMENT, "storage")]);
      assert.equal(byIntegration(result).get("storage")?.status, "blocked");
    });

    it("uses depends_on between instances the catalog does not order", () => {
      const result = plan(
        ["functions", "functions:orders"],
        { depends_on: { "functions:orders": ["functions"] } },
        withInstances(["functions:orders"]),
      );
      assert.ok(dependsOn(result, "functions:orders", "functions"));
      const orders = byIntegration(result).get("functions:orders");
      assert.equal(orders?.id, `${DEPLOYMENT}--functions-orders`);
      assert.equal(orders?.status, "blocked");
      assert.equal(orders?.description, "Deploy Cloud Functions (orders) to dev");
    });

    it("takes estimates and simulation from configuration.simulate, most specific first", () => {
      const result = plan(
        ["auth", "functions", "functions:orders"],
        {
          simulate: {
            "*": { latency_ms: 1000 },
            functions: { latency_ms: 2000 },
            "functions:orders": { latency_ms: 3000, fail_first: 1 },
          },
        },
        withInstances(["functions:orders"]),
      );
      const tasks = byIntegration(result);
      assert.equal(tasks.get("auth")?.estimated_duration, 1);
      assert.equal(tasks.get("functions")?.estimated_duration, 2);
      assert.equal(tasks.get("functions:orders")?.estimated_duration, 3);
      assert.equal(tasks.get("functions:orders")?.simulation?.fail_first, 1);
      assert.equal(result.estimatedSeconds, 4);
    });

    it("passes the engine options to every task and leaves driver settings alone", () => {
      const result = plan(["auth"], { max_retries: 5, lease_seconds: 30, some_driver_setting: true });
      assert.equal(result.options.max_retries, 5);
      assert.equal(result.tasks[0]?.max_retries, 5);
      assert.equal(result.tasks[0]?.lease_seconds, 30);
    });
    it("takes each integration's engine settings from the environment unless the request sets them", () => {
      const base = withInstances(["functions:orders"]);
      const functionsEngine = { max_retries: 6, retry_base_ms: 9000, lease_seconds: 600 };
      // As the config resolves `engine.functions`: onto every instance of the kind.
      const env = {
        ...base,
        engine: { ...base.engine, functions: functionsEngine, "functions:orders": functionsEngine },
      };
      const tasks = byIntegration(plan(["auth", "functions", "functions:orders"], {}, env));
      for (const integration of ["functions", "functions:orders"]) {
        assert.equal(tasks.get(integration)?.max_retries, 6, integration);
        assert.equal(tasks.get(integration)?.retry_base_ms, 9000, integration);
        assert.equal(tasks.get(integration)?.lease_seconds, 600, integration);
      }
      // The engine's defaults where the environment says nothing of its own.
      assert.equal(tasks.get("auth")?.max_retries, 3);
      assert.equal(tasks.get("auth")?.retry_base_ms, 2000);
      assert.equal(tasks.get("auth")?.lease_seconds, 120);
      const requested = byIntegration(plan(["functions"], { max_retries: 1, lease_seconds: 45 }, env));
      assert.equal(requested.get("functions")?.max_retries, 1);
      assert.equal(requested.get("functions")?.lease_seconds, 45);
      assert.equal(
        requested.get("functions")?.retry_base_ms,
        9000,
        "what the request leaves out stays the environment's",
      );
    });
  });

  describe("planDeployment refuses", () => {
    it("an integration the environment does not declare", () => {
      const env = environmentWith(["auth", "firestore", "security"]);
      const problem = assertOneProblem(
        problemsOf(["auth", "hosting"], {}, env),
        "integrations[1]",
        '"hosting"',
        'not declared in environment "dev"',
      );
      assert.equal(problem.allowed, "one of auth, firestore, security");
    });

    it("an extra instance of an undeclared kind", () => {
      const env = environmentWith(["auth", "security"]);
      assertOneProblem(
        problemsOf(["auth", "functions:orders"], {}, env),
        "integrations[1]",
        '"functions:orders"',
        "not declared",
      );
    });

    it("an instance the environment does not declare, though it declares the kind", () => {
      const env = withInstances(["functions:orders"], environmentWith(["auth", "functions", "security"]));
      const problem = assertOneProblem(
        problemsOf(["functions", "functions:billing"], {}, env),
        "integrations[1]",
        '"functions:billing"',
        'not declared in environment "dev"',
      );
      assert.equal(problem.allowed, "one of auth, functions, security, functions:orders");
    });

    it("an integration listed twice", () => {
      assertOneProblem(
        problemsOf(["auth", "firestore", "auth"]),
        "integrations[2]",
        '"auth" listed twice',
        "each integration once",
      );
    });

    it("an unknown dependency in configuration.depends_on", () => {
      const problem = assertOneProblem(
        problemsOf(["functions", "hosting"], { depends_on: { hosting: ["functions", "cdn"] } }),
        "configuration.depends_on.hosting[1]",
        'unknown dependency "cdn"',
      );
      assert.equal(problem.allowed, "one of functions, hosting");
    });

    it("a dependency on an integration this deployment does not include", () => {
      assertOneProblem(
        problemsOf(["hosting"], { depends_on: { hosting: ["cicd"] } }),
        "configuration.depends_on.hosting[0]",
        'unknown dependency "cicd"',
      );
    });

    it("depends_on for an integration not in the deployment", () => {
      const problem = assertOneProblem(
        problemsOf(["hosting", "functions"], { depends_on: { cicd: ["hosting"] } }),
        "configuration.depends_on.cicd",
        '"cicd"',
        "does not include",
      );
      assert.equal(problem.allowed, "one of hosting, functions");
    });

    it("depends_on for an instance not in the deployment, quoting the key in the path", () => {
      assertOneProblem(
        problemsOf(["functions"], { depends_on: { "functions:orders": ["functions"] } }),
        'configuration.depends_on["functions:orders"]',
        '"functions:orders"',
      );
    });

    it("a cycle through depends_on, naming the cycle", () => {
      const problem = assertOneProblem(
        problemsOf([...INTEGRATION_KINDS], { depends_on: { auth: ["hosting"] } }),
        "configuration.depends_on",
        "cycle",
        " -> ",
      );
      const cycle = /the cycle (.*)$/.exec(problem.found)?.[1]?.split(" -> ") ?? [];
      assert.ok(cycle.length >= 3, problem.found);
      assert.equal(cycle[0], cycle.at(-1), "the cycle closes on its first node");
      for (const name of ["auth", "hosting", "functions"])
        assert.ok(cycle.includes(name), `${problem.found} should include ${name}`);
      // Each step is a real dependency: x -> y means x must wait for y.
      const edges = new Map<string, string[]>(
        INTEGRATION_KINDS.map((kind) => [kind, [...INTEGRATION_CATALOG[kind].after]]),
      );
      edges.get("auth")?.push("hosting");
      for (let i = 0; i + 1 < cycle.length; i++) {
        assert.ok(
          edges.get(cycle[i] ?? "")?.includes(cycle[i + 1] ?? ""),
          `${cycle[i]} -> ${cycle[i + 1]} is not a dependency`,
        );
      }
    });

    it("an integration that depends on itself", () => {
      assertOneProblem(
        problemsOf(["auth"], { depends_on: { auth: ["auth"] } }),
        "configuration.depends_on",
        "auth -> auth",
      );
    });

    it("depends_on that is not an object", () => {
      assertOneProblem(
        problemsOf(["auth"], { depends_on: ["auth"] }),
        "configuration.depends_on",
        "not an object",
      );
    });

    it("depends_on with a value that is not a list of names", () => {
      assertOneProblem(
        problemsOf(["auth", "hosting"], { depends_on: { hosting: "auth" } }),
        "configuration.depends_on.hosting",
        "not a list of integration names",
      );
    });

    it("a negative max_retries", () => {
      const problem = assertOneProblem(
        problemsOf(["auth"], { max_retries: -1 }),
        "configuration.max_retries",
        "number -1",
        "at least 0",
      );
      assert.equal(problem.message, "configuration.max_retries: found number -1; allowed: at least 0");
    });

    it("a simulated latency that is not a number", () => {
      assertOneProblem(
        problemsOf(["auth"], { simulate: { auth: { latency_ms: "fast" } } }),
        "configuration.simulate.auth.latency_ms",
        'string "fast"',
        "a number",
      );
    });

    it("an unknown driver", () => {
      assertOneProblem(
        problemsOf(["auth"], { driver: "terraform" }),
        "configuration.driver",
        'string "terraform"',
        'one of "integration", "simulated"',
      );
    });

    it("an unknown simulation setting, listing the settings allowed", () => {
      const problem = assertOneProblem(
        problemsOf(["auth"], { simulate: { auth: { latency: 5 } } }),
        "configuration.simulate.auth.latency",
        'unknown key "latency"',
      );
      assert.ok(problem.allowed.includes("latency_ms"), problem.message);
    });

    it("reports problems with the integrations and the options together", () => {
      const problems = problemsOf(["auth", "auth"], { max_retries: "three" });
      assert.deepEqual(problems.map((p) => p.path).sort(), ["configuration.max_retries", "integrations[1]"]);
    });
  });

  describe("planDeployment properties", () => {
    const instanceNames = ["orders", "eu", "b2"] as const;
    const requestArbitrary = fc
      .record({
        kinds: fc.subarray([...INTEGRATION_KINDS], { minLength: 1 }),
        extras: fc.uniqueArray(
          fc.tuple(fc.constantFrom(...INTEGRATION_KINDS), fc.constantFrom(...instanceNames)),
          {
            maxLength: 5,
            selector: ([kind, name]) => `${kind}:${name}`,
          },
        ),
        concurrency: fc.integer({ min: 1, max: 6 }),
        latencies: fc.dictionary(
          fc.constantFrom(...INTEGRATION_KINDS),
          fc.integer({ min: 1000, max: 120_000 }),
          { maxKeys: 4 },
        ),
      })
      .chain((drawn) =>
        fc
          .shuffledSubarray([...drawn.kinds, ...drawn.extras.map(([kind, name]) => `${kind}:${name}`)], {
            minLength: drawn.kinds.length + drawn.extras.length,
          })
          .map((integrations) => ({ ...drawn, integrations })),
      );

    it("property: any set of declared integrations gives a well-formed DAG within the concurrency limit", () => {
      fc.assert(
        fc.property(requestArbitrary, ({ integrations, concurrency, latencies }) => {
          const env = { ...withInstances(integrations), concurrency };
          const simulate = Object.fromEntries(
            Object.entries(latencies).map(([kind, latency_ms]) => [kind, { latency_ms }]),
          );
          const result = plan(integrations, { simulate }, env);
          assertWellFormed(result, integrations, concurrency);
          // Catalog ordering holds between every pair that was requested.
          const tasks = byIntegration(result);
          for (const task of result.tasks) {
            for (const other of result.tasks) {
              const mustWait =
                (INTEGRATION_CATALOG[task.kind].after as readonly string[]).includes(other.kind) &&
                other.id !== task.id;
              assert.equal(
                task.dependencies.includes(other.id),
                mustWait,
                `${task.integration} waits for ${other.integration}`,
              );
            }
          }
          assert.equal(tasks.size, integrations.length);
        }),
        { numRuns: 200 },
      );
    });

    it("property: planning is deterministic", () => {
      fc.assert(
        fc.property(requestArbitrary, ({ integrations }) => {
          const env = withInstances(integrations);
          assert.deepEqual(plan(integrations, {}, env), plan([...integrations].reverse(), {}, env));
        }),
        { numRuns: 50 },
      );
    });
  });

  describe("taskId", () => {
    it("joins the deployment and the integration, with the instance separator made safe for a document id", () => {
      assert.equal(taskId("d1", "auth"), "d1--auth");
      assert.equal(taskId("d1", "functions:orders"), "d1--functions-orders");
    });
  });

  describe("retryDelayMs", () => {
    const options = { retry_base_ms: 2000, retry_max_ms: 300_000 };

    it("doubles the ceiling with each retry, half fixed and half jitter", () => {
      assert.equal(
        retryDelayMs(1, options, () => 0),
        1000,
      );
      assert.equal(
        retryDelayMs(1, options, () => 0.5),
        1500,
      );
      assert.equal(
        retryDelayMs(2, options, () => 0),
        2000,
      );
      assert.equal(
        retryDelayMs(3, options, () => 0),
        4000,
      );
    });

    it("caps the ceiling at retry_max_ms", () => {
      assert.equal(
        retryDelayMs(30, options, () => 0),
        150_000,
      );
      assert.ok(retryDelayMs(30, options, () => 0.999999) <= 300_000);
      assert.equal(
        retryDelayMs(5000, options, () => 0),
        150_000,
        "huge retry numbers do not overflow into NaN",
      );
    });

    it("treats retry 0 like retry 1", () => {
      assert.equal(
        retryDelayMs(0, options, () => 0),
        retryDelayMs(1, options, () => 0),
      );
    });

    it("property: between ceiling/2 and ceiling, growing with the retry number, capped, never 0", () => {
      fc.assert(
        fc.property(
          fc.integer({ min: 1, max: 600_000 }),
          fc.integer({ min: 1, max: 3_600_000 }),
          fc.integer({ min: 1, max: 40 }),
          fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }),
          (retry_base_ms, retry_max_ms, retry, random) => {
            const opts = { retry_base_ms, retry_max_ms };
            const ceiling = Math.min(retry_max_ms, retry_base_ms * 2 ** (retry - 1));
            const delay = retryDelayMs(retry, opts, () => random);
            assert.ok(Number.isInteger(delay));
            assert.ok(delay >= 1, "never 0");
            assert.ok(delay >= ceiling / 2, `${delay} < ${ceiling}/2`);
            assert.ok(delay <= ceiling, `${delay} > ${ceiling}`);
            assert.ok(delay <= retry_max_ms);
            assert.ok(
              retryDelayMs(retry + 1, opts, () => random) >= delay,
              "does not shrink with the next retry",
            );
          },
        ),
      );
    });
  });
});
