/**
 * Generated configs at the specification's scale (10+ environments with 50+ integrations each),
 * for the unit test that validates, resolves and plans one and for `npm run bench -- --health`,
 * which provisions and health-checks one with the real drivers.
 */
import type { OrchestrationConfigInput } from "../../functions/src/domain/config-schema.js";
import { INTEGRATION_KINDS, type IntegrationKind } from "../../functions/src/domain/integrations.js";

/**
 * Kinds that get more instances, in turn. Not auth, security or monitoring (one per project), not
 * backup (each instance's health check restores an export: the slowest probe there is) and not
 * cicd (one pipeline per environment is what a team runs).
 */
const REPEATED: readonly IntegrationKind[] = ["analytics", "hosting", "storage", "functions", "firestore"];

/**
 * The integrations of one scale environment: every kind's default instance, then instances of the
 * repeated kinds in turn until there are `count`, with the overrides that keep each instance's
 * resources its own (a Hosting site, a BigQuery dataset).
 */
export function scaleIntegrations(count: number): {
  integrations: string[];
  overrides: Record<string, Record<string, unknown>>;
} {
  if (count < INTEGRATION_KINDS.length)
    throw new Error(`a scale environment has at least ${INTEGRATION_KINDS.length} integrations`);
  const integrations: string[] = [...INTEGRATION_KINDS];
  const overrides: Record<string, Record<string, unknown>> = {};
  for (let n = 0; integrations.length < count; n += 1) {
    const kind = REPEATED[n % REPEATED.length]!;
    const instance = `s${String(Math.floor(n / REPEATED.length) + 1).padStart(2, "0")}`;
    const name = `${kind}:${instance}`;
    integrations.push(name);
    if (kind === "hosting") overrides[name] = { site: `site-${instance}` };
    if (kind === "analytics") overrides[name] = { dataset: `events_${instance}` };
    if (kind === "functions") overrides[name] = { topics: [`jobs-${instance}`] };
  }
  return { integrations, overrides };
}

/**
 * A config of `environments` emulated environments (`<prefix>-0`, `<prefix>-1`, ...) with
 * `integrations` integrations each, over the given base (the repository's, so the rules files and
 * sources the drivers read exist).
 */
export function scaleConfig(options: {
  base: OrchestrationConfigInput["base"];
  environments: number;
  integrations: number;
  prefix?: string;
  concurrency?: number;
}): OrchestrationConfigInput {
  const prefix = options.prefix ?? "scale";
  const { integrations, overrides } = scaleIntegrations(options.integrations);
  return {
    version: 1,
    base: options.base,
    environments: Array.from({ length: options.environments }, (_, i) => ({
      name: `${prefix}-${i}`,
      type: "development" as const,
      project_id: `demo-${prefix}-${i}`,
      mode: "emulated" as const,
      ...(options.concurrency === undefined ? {} : { concurrency: options.concurrency }),
      integrations,
      overrides,
    })),
  };
}
