/** Decides which documents a config load writes, so loading the same config twice changes nothing. */
import { contentHash } from "./digest.js";
import type { ResolvedConfig } from "./config-schema.js";
import { integrationDocId, type ConfigDoc, type EnvironmentDoc, type IntegrationDoc } from "./model.js";

/** What is stored now, as far as a config load cares. */
export interface StoredState {
  config: ConfigDoc | undefined;
  environments: ReadonlyMap<string, EnvironmentDoc>;
  integrations: ReadonlyMap<string, IntegrationDoc>;
}

/** The writes a config load makes: only documents whose content changes. */
export interface ConfigWrites {
  config: ConfigDoc | undefined;
  environments: EnvironmentDoc[];
  integrations: { id: string; doc: IntegrationDoc }[];
}

function sameContent(a: object, b: object, ignore: readonly string[]): boolean {
  const strip = (o: object) => Object.fromEntries(Object.entries(o).filter(([key]) => !ignore.includes(key)));
  return contentHash(strip(a)) === contentHash(strip(b));
}

/** Documents to write for a validated config, keeping created_at and live status of what exists. */
export function planConfigWrites(
  resolved: ResolvedConfig,
  raw: Record<string, unknown>,
  stored: StoredState,
  now: Date,
): ConfigWrites {
  const hash = contentHash(raw);
  const config: ConfigDoc | undefined =
    stored.config?.content_hash === hash
      ? undefined
      : {
          config_type: "orchestration",
          config_data: raw,
          content_hash: hash,
          created_at: stored.config?.created_at ?? now,
          updated_at: now,
        };

  const environments: EnvironmentDoc[] = [];
  const integrations: { id: string; doc: IntegrationDoc }[] = [];
  const declaredIds = new Set<string>();

  for (const env of resolved.environments) {
    const existing = stored.environments.get(env.name);
    const next: EnvironmentDoc = {
      name: env.name,
      type: env.type,
      project_id: env.project_id,
      region: env.region,
      mode: env.mode,
      concurrency: env.concurrency,
      rollback_policy: env.rollback_policy,
      status: existing?.status ?? "declared",
      created_at: existing?.created_at ?? now,
      last_updated: now,
    };
    if (!existing || !sameContent(existing, next, ["last_updated"])) environments.push(next);

    for (const integration of env.integrations) {
      const id = integrationDocId(env.name, integration.name);
      declaredIds.add(id);
      const current = stored.integrations.get(id);
      const status = current && current.status !== "removed" ? current.status : "declared";
      const doc: IntegrationDoc = {
        name: integration.name,
        type: integration.kind,
        environment: env.name,
        status,
        configuration: integration.settings,
        last_updated: now,
        release: current?.release ?? null,
        health: current?.health ?? null,
        open_alert: current?.open_alert ?? null,
        incidents: current?.incidents ?? 0,
      };
      if (!current || !sameContent(current, doc, ["last_updated"])) integrations.push({ id, doc });
    }
  }
  for (const [id, current] of stored.integrations) {
    if (!declaredIds.has(id) && current.status !== "removed") {
      integrations.push({ id, doc: { ...current, status: "removed", last_updated: now } });
    }
  }
  return { config, environments, integrations };
}
