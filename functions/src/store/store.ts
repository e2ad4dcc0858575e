/** Typed repositories over the control plane's Firestore collections. */
import type { Firestore } from "firebase-admin/firestore";
import { planConfigWrites, type ConfigWrites } from "../domain/config-load.js";
import type { ResolvedConfig } from "../domain/config-schema.js";
import {
  COLLECTIONS,
  configDocSchema,
  environmentDocSchema,
  integrationDocSchema,
  type ConfigDoc,
  type EnvironmentDoc,
  type IntegrationDoc,
  type AlertDoc,
  alertDocSchema,
  integrationDocId,
} from "../domain/model.js";
import type { z } from "zod";
import { timestampsToDates } from "../domain/timestamps.js";
import { coalesce } from "./coalesce.js";
import { typedCollection } from "./typed-collection.js";
import { runTransaction } from "./transaction.js";

/** The id of the config document in force. */
export const CURRENT_CONFIG_ID = "current";

/** The store the handlers use; tests build it on the Firestore emulator. */
export function createStore(db: Firestore) {
  const configs = typedCollection(db, COLLECTIONS.config, configDocSchema);
  const environments = typedCollection(db, COLLECTIONS.environments, environmentDocSchema);
  const integrations = typedCollection(db, COLLECTIONS.integrations, integrationDocSchema);
  const alerts = typedCollection(db, COLLECTIONS.alerts, alertDocSchema);
  // Every request reads the config (its access check, then its plan): concurrent ones share reads.
  const readCurrentConfig = coalesce(async () => (await configs.doc(CURRENT_CONFIG_ID).get()).data());

  return {
    db,
    configs,
    environments,
    integrations,

    /** The config as last loaded, or undefined before the first load. */
    async currentConfig(): Promise<ConfigDoc | undefined> {
      // Each caller gets its own copy of a shared read.
      return structuredClone(await readCurrentConfig());
    },

    async listEnvironments(): Promise<EnvironmentDoc[]> {
      return (await environments.orderBy("name").get()).docs.map((doc) => doc.data());
    },

    async getEnvironment(name: string): Promise<EnvironmentDoc | undefined> {
      return (await environments.doc(name).get()).data();
    },

    async listIntegrations(environment?: string): Promise<IntegrationDoc[]> {
      const query =
        environment === undefined ? integrations : integrations.where("environment", "==", environment);
      return (await query.get()).docs
        .map((doc) => doc.data())
        .sort((a, b) => `${a.environment}/${a.name}`.localeCompare(`${b.environment}/${b.name}`));
    },

    /** Alerts, newest first. */
    async listAlerts(status?: "open" | "resolved"): Promise<(AlertDoc & { id: string })[]> {
      const query = status === undefined ? alerts : alerts.where("status", "==", status);
      return (await query.get()).docs
        .map((doc) => ({ ...doc.data(), id: doc.id }))
        .sort((a, b) => b.opened_at.getTime() - a.opened_at.getTime());
    },

    /** Sets an environment's lifecycle status (provisioning, ready, failed...). */
    async setEnvironmentStatus(name: string, status: EnvironmentDoc["status"], now: Date): Promise<void> {
      await runTransaction(db, async (tx) => {
        const ref = environments.doc(name);
        const current = (await tx.get(ref)).data();
        if (current && current.status !== status) tx.set(ref, { ...current, status, last_updated: now });
      });
    },

    /** Records the outcome of a deployment on an integration's document. */
    async markIntegration(
      environment: string,
      name: string,
      fields: Pick<IntegrationDoc, "status" | "release">,
      now: Date,
    ): Promise<void> {
      await runTransaction(db, async (tx) => {
        const ref = integrations.doc(integrationDocId(environment, name));
        const current = (await tx.get(ref)).data();
        if (!current) return;
        tx.set(ref, { ...current, ...fields, last_updated: now });
      });
    },

    /**
     * Stores a validated config and the environments and integrations it declares, in one
     * transaction; only documents whose content changes are written.
     */
    async loadConfig(
      resolved: ResolvedConfig,
      raw: Record<string, unknown>,
      now: Date,
    ): Promise<ConfigWrites> {
      return runTransaction(db, async (tx) => {
        // Raw reads: a document damaged by hand must not block the load that repairs it.
        const [configSnap, envSnaps, integrationSnaps] = await Promise.all([
          tx.get(db.collection(COLLECTIONS.config).doc(CURRENT_CONFIG_ID)),
          tx.get(db.collection(COLLECTIONS.environments)),
          tx.get(db.collection(COLLECTIONS.integrations)),
        ]);
        const readable = <T>(schema: z.ZodType<T>, docs: { id: string; data(): unknown }[]) =>
          new Map(
            docs.flatMap((doc): [string, T][] => {
              const parsed = schema.safeParse(timestampsToDates(doc.data()));
              return parsed.success ? [[doc.id, parsed.data]] : [];
            }),
          );
        const writes = planConfigWrites(
          resolved,
          raw,
          {
            config: readable(configDocSchema, configSnap.exists ? [configSnap] : []).get(CURRENT_CONFIG_ID),
            environments: readable(environmentDocSchema, envSnaps.docs),
            integrations: readable(integrationDocSchema, integrationSnaps.docs),
          },
          now,
        );
        if (writes.config) tx.set(configs.doc(CURRENT_CONFIG_ID), writes.config);
        for (const env of writes.environments) tx.set(environments.doc(env.name), env);
        for (const { id, doc } of writes.integrations) tx.set(integrations.doc(id), doc);
        return writes;
      });
    },
  };
}

/** The store's type, for dependency injection. */
export type Store = ReturnType<typeof createStore>;
