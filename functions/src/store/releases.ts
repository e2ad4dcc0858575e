/** Release records per integration, in `releases/{environment}__{integration}__{number}`. */
import type { Firestore } from "firebase-admin/firestore";
import { z } from "zod";
import { INTEGRATION_KINDS } from "../domain/integrations.js";
import type { Release, ReleaseStore } from "../drivers/types.js";
import { typedCollection } from "./typed-collection.js";

export const RELEASES = "releases";

const releaseDocSchema = z.strictObject({
  environment: z.string(),
  integration: z.string(),
  kind: z.enum(INTEGRATION_KINDS),
  number: z.int().min(1),
  mode: z.enum(["emulated", "staged", "live"]),
  state: z.unknown(),
  digest: z.string(),
  artifact: z.strictObject({ name: z.string(), content: z.string() }).nullable(),
  deployment_id: z.string().nullable(),
  action: z.enum(["apply", "rollback"]),
  created_at: z.date(),
});

const docId = (environment: string, integration: string, number: number) =>
  `${environment}__${integration.replace(":", "-")}__${String(number).padStart(6, "0")}`;

export function createReleaseStore(
  db: Firestore,
): ReleaseStore & { list(environment: string, integration: string): Promise<Release[]> } {
  const releases = typedCollection(db, RELEASES, releaseDocSchema);
  const newest = (environment: string, integration: string, count: number) =>
    releases
      .where("environment", "==", environment)
      .where("integration", "==", integration)
      .orderBy("number", "desc")
      .limit(count);

  return {
    async latest(environment, integration) {
      return (await newest(environment, integration, 1).get()).docs[0]?.data();
    },
    async previous(environment, integration) {
      return (await newest(environment, integration, 2).get()).docs[1]?.data();
    },
    async list(environment, integration) {
      return (await newest(environment, integration, 100).get()).docs.map((doc) => doc.data());
    },
    async record(release) {
      return db.runTransaction(async (tx) => {
        const top = (await tx.get(newest(release.environment, release.integration, 1))).docs[0]?.data();
        const next: Release = { ...release, number: (top?.number ?? 0) + 1 };
        tx.create(releases.doc(docId(release.environment, release.integration, next.number)), next);
        return next;
      });
    },
  };
}
