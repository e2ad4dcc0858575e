/**
 * Firestore, live: what `firebase deploy --only firestore` does, driven by our plan. Rules go
 * through the Firebase Rules API (a ruleset is created from the source, which compiles it, then the
 * `cloud.firestore` release is pointed at it: patched, or created on a project that never had
 * rules), composite indexes through the Firestore Admin API (created, and those the config no
 * longer lists deleted, so a rollback removes what the undone release added). An index is built by
 * Google after create answers: plan and apply do not wait for it, verify reports it while CREATING.
 * Seed documents are for emulated environments only: a live plan refuses them.
 */
import type { firestore_v1 } from "googleapis/build/src/apis/firestore/v1.js";
import { problem } from "../emulator-rest.js";
import { firestoreDriver, type IndexDefinition, type IndexField } from "../firestore.js";

import type { DriverSpec, DriverTarget } from "../types.js";
import { callGoogle, callGoogleData, firestoreApi, requireAccess, type GoogleAccess } from "./google.js";
import { releasedRules, releaseRules, type RulesTarget } from "./rules-release.js";
import { sha256 } from "../../domain/digest.js";

/** What a live project's default database holds of ours. */
export interface FirestoreLiveState {
  /** The source the cloud.firestore release serves; null when the project never had rules released. */
  rules: string | null;
  /** Composite indexes (serving API scope ANY_API), sorted; `__name__` as Firestore appends it left out. */
  indexes: IndexDefinition[];
}

/** The Rules release Firestore enforces for the default database. */
export const FIRESTORE_RELEASE = "cloud.firestore";
const RULES_FILE = "firestore.rules";
const database = (project: string) => `projects/${project}/databases/(default)`;

const sortIndexes = (indexes: IndexDefinition[]): IndexDefinition[] =>
  [...indexes].sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b)));

/** An index as the Admin API reports it, as our definitions spell it. */
function definitionOf(index: firestore_v1.Schema$GoogleFirestoreAdminV1Index): IndexDefinition {
  const fields = (index.fields ?? []).map((f): IndexField =>
    f.arrayConfig === "CONTAINS"
      ? { fieldPath: f.fieldPath ?? "", arrayConfig: "CONTAINS" }
      : { fieldPath: f.fieldPath ?? "", order: f.order === "DESCENDING" ? "DESCENDING" : "ASCENDING" },
  );
  // Firestore appends __name__ as the last field (firestore.indexes.json never lists it).
  if (fields.at(-1)?.fieldPath === "__name__") fields.pop();
  return {
    collectionGroup: /\/collectionGroups\/([^/]+)\//.exec(index.name ?? "")?.[1] ?? "",
    queryScope: index.queryScope === "COLLECTION_GROUP" ? "COLLECTION_GROUP" : "COLLECTION",
    fields,
  };
}

async function liveIndexes(
  access: GoogleAccess,
  api: firestore_v1.Firestore,
  project: string,
): Promise<(firestore_v1.Schema$GoogleFirestoreAdminV1Index & { definition: IndexDefinition })[]> {
  const out: (firestore_v1.Schema$GoogleFirestoreAdminV1Index & { definition: IndexDefinition })[] = [];
  let pageToken: string | undefined;
  do {
    const page = await callGoogleData(
      access,
      `listing the indexes of ${project}`,
      "datastore.indexes.list",
      () =>
        api.projects.databases.collectionGroups.indexes.list({
          parent: `${database(project)}/collectionGroups/-`,
          pageSize: 100,
          ...(pageToken ? { pageToken } : {}),
        }),
    );
    for (const index of page.indexes ?? [])
      if (!index.apiScope || index.apiScope === "ANY_API")
        out.push({ ...index, definition: definitionOf(index) });
    pageToken = page.nextPageToken ?? undefined;
  } while (pageToken);
  return out;
}

const rulesTarget = (project: string): RulesTarget => ({
  project,
  release: FIRESTORE_RELEASE,
  file: RULES_FILE,
});
const liveRules = (access: GoogleAccess, project: string) => releasedRules(access, rulesTarget(project));

/** The live half of the firestore driver; the emulated half (firestore.ts) validates the same files. */
export const liveFirestoreSpec: DriverSpec<"firestore", FirestoreLiveState> = {
  kind: "firestore",
  mode: () => "live",

  async desired(target: DriverTarget<"firestore">, io) {
    const base = await firestoreDriver.desired(target, io);
    const seeded = Object.entries(base.state.seed).filter(([, docs]) => Object.keys(docs).length > 0);
    const problems = [
      ...base.problems,
      ...seeded.map(([collection]) =>
        problem(
          [target.integration, "seed", collection],
          `seed documents for a live environment (${target.environment.name})`,
          "no seed in live environments: seed documents are written to emulated environments only",
        ),
      ),
    ];
    return {
      ...base,
      problems,
      state: { rules: base.state.rules, indexes: sortIndexes(base.state.indexes) },
    };
  },

  async observe(target, io) {
    const access = requireAccess(io.google, "firestore");
    const project = target.environment.project_id;
    const indexes = await liveIndexes(access, await firestoreApi(access), project);
    return {
      rules: await liveRules(access, project),
      indexes: sortIndexes(indexes.map((i) => i.definition)),
    };
  },

  async apply(target, state, io) {
    const access = requireAccess(io.google, "firestore");
    const project = target.environment.project_id;
    if (state.rules !== null && (await liveRules(access, project)) !== state.rules)
      await releaseRules(access, rulesTarget(project), state.rules);

    const api = await firestoreApi(access);
    const existing = await liveIndexes(access, api, project);
    const key = (d: IndexDefinition) => JSON.stringify(d);
    const have = new Set(existing.map((i) => key(i.definition)));
    const want = new Set(state.indexes.map(key));
    for (const index of state.indexes.filter((d) => !have.has(key(d)))) {
      const created = await callGoogle(
        access,
        `creating an index on ${index.collectionGroup}`,
        "datastore.indexes.create",
        () =>
          api.projects.databases.collectionGroups.indexes.create({
            parent: `${database(project)}/collectionGroups/${index.collectionGroup}`,
            requestBody: { queryScope: index.queryScope, fields: index.fields },
          }),
        [409],
      );
      // 409: created by an earlier apply that died before it could record its release.
      if (!created.ok && created.failure.status !== 409) throw new Error(created.failure.message);
    }
    for (const index of existing.filter((i) => !want.has(key(i.definition)))) {
      const deleted = await callGoogle(
        access,
        `deleting ${index.name ?? "an index"}`,
        "datastore.indexes.delete",
        () => api.projects.databases.collectionGroups.indexes.delete({ name: index.name ?? "" }),
        [404],
      );
      if (!deleted.ok && deleted.failure.status !== 404) throw new Error(deleted.failure.message);
    }
  },

  async verify(target, io, release) {
    const access = requireAccess(io.google, "firestore");
    const project = target.environment.project_id;
    const rules = await liveRules(access, project);
    const indexes = await liveIndexes(access, await firestoreApi(access), project);
    const wanted = release ? (release.state as FirestoreLiveState) : undefined;
    if (wanted && rules !== wanted.rules)
      return {
        status: "degraded",
        details: `the rules ${project} serves (${rules === null ? "none" : sha256(rules).slice(0, 12)}) differ from release ${release?.number ?? "?"}'s`,
      };
    const building = indexes.filter((i) => i.state === "CREATING").length;
    const broken = indexes.filter((i) => i.state === "NEEDS_REPAIR").length;
    if (building > 0 || broken > 0)
      return {
        status: "degraded",
        details: `Google reports ${building} index(es) still building and ${broken} needing repair in ${project}`,
      };
    return {
      status: "healthy",
      details: `Google reports the ${FIRESTORE_RELEASE} rules ${rules === null ? "absent" : sha256(rules).slice(0, 12)} and ${indexes.length} composite index(es) ready in ${project}`,
    };
  },
};
