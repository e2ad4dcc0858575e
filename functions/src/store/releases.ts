/** Release records per integration, in `releases/{environment}__{integration}__{number}`. */
import type { DocumentSnapshot, Firestore } from "firebase-admin/firestore";
import { z } from "zod";
import { StaleAttemptError } from "../domain/errors.js";
import { INTEGRATION_KINDS } from "../domain/integrations.js";
import type { Release, ReleaseStore } from "../drivers/types.js";
import { typedCollection } from "./typed-collection.js";
import { runTransaction } from "./transaction.js";

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
  undoes: z.int().nullable().default(null),
  promoted_from: z
    .strictObject({ environment: z.string(), release: z.int().min(1), artifact_sha256: z.string() })
    .nullable()
    .default(null),
  created_at: z.date(),
});

const docId = (environment: string, integration: string, number: number) =>
  `${environment}__${integration.replace(":", "-")}__${String(number).padStart(6, "0")}`;

export function createReleaseStore(
  db: Firestore,
): ReleaseStore & { list(environment: string, integration: string): Promise<Release[]> } {
  const releases = typedCollection(db, RELEASES, releaseDocSchema);
  const counters = typedCollection(db, "release_counters", z.strictObject({ number: z.int().min(0) }));
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
    async latestOf(environment, integrations) {
      // Each integration's counter names its latest release: two reads for them all, not a query each.
      const counted = (await db.getAll(
        ...integrations.map((name) => counters.doc(docId(environment, name, 0))),
      )) as DocumentSnapshot<{ number: number }>[];
      const numbers = counted.map((snap): number => snap.data()?.number ?? 0);
      const wanted = integrations.flatMap((name, at) => {
        const number = numbers[at] ?? 0;
        return number > 0 ? [releases.doc(docId(environment, name, number))] : [];
      });
      const read = wanted.length > 0 ? ((await db.getAll(...wanted)) as DocumentSnapshot<Release>[]) : [];
      const found = new Map<string, Release>();
      for (const snap of read) {
        const release = snap.data();
        if (release) found.set(release.integration, release);
      }
      // An integration with no counter has no release recorded here; its latest is still looked up by query.
      const latest = await Promise.all(
        integrations.map(async (name) => found.get(name) ?? (await this.latest(environment, name))),
      );
      return new Map(integrations.map((name, at) => [name, latest[at]]));
    },
    async previous(environment, integration) {
      return (await newest(environment, integration, 2).get()).docs[1]?.data();
    },
    async newest(environment, integration, count) {
      return (await newest(environment, integration, count).get()).docs.map((doc) => doc.data());
    },
    async get(environment, integration, number) {
      return (await releases.doc(docId(environment, integration, number)).get()).data();
    },
    async list(environment, integration) {
      return (await newest(environment, integration, 100).get()).docs.map((doc) => doc.data());
    },
    async record(release, fence) {
      // A counter document per integration, not a query, inside the transaction: a query locks
      // every release it reads, and concurrent deployments then time out on each other's locks.
      const counter = counters.doc(docId(release.environment, release.integration, 0));
      return runTransaction(db, async (tx) => {
        if (fence) {
          const holder: unknown = (await tx.get(db.doc(fence.path))).data();
          const { status, attempt } = (holder ?? {}) as { status?: unknown; attempt?: unknown };
          if (status !== "running" || attempt !== fence.attempt)
            throw new StaleAttemptError(
              `release of ${release.integration} in ${release.environment} refused: attempt ${fence.attempt} no longer holds ${fence.path} (now ${String(status)}, attempt ${String(attempt)})`,
            );
        }
        const last = (await tx.get(counter)).data()?.number ?? 0;
        const next: Release = { ...release, number: last + 1 };
        tx.set(counter, { number: next.number });
        tx.create(releases.doc(docId(release.environment, release.integration, next.number)), next);
        return next;
      });
    },
  };
}
