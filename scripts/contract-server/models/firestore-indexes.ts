import { ApiError } from "../resources.js";
import type { ContractServer } from "../server.js";

type Field = { fieldPath: string; order?: string; arrayConfig?: string };
type Index = { name: string; queryScope: string; apiScope: string; fields: Field[]; state: string };

/** What the model holds, for tests to inspect: indexes by name, and how many lists each has left before READY. */
export type IndexModel = { indexes: Map<string, Index>; listsUntilReady: Map<string, number> };

const str = (value: string | string[] | undefined): string | undefined =>
  Array.isArray(value) ? value[0] : value;

/** Index identity as Firestore compares it: scope and fields, `__name__` included. */
const shape = (index: Pick<Index, "queryScope" | "fields">, group: string) =>
  JSON.stringify([group, index.queryScope, index.fields]);

/**
 * Firestore Admin v1 composite indexes as the reference and index.proto describe them, on a
 * contract server: create answers a long-running operation and the index is CREATING until the
 * `buildLists`-th list after it, which reports it READY; `__name__` is appended as the last field with the
 * direction of the last field (ASCENDING after an array field) when not given; an index with the
 * same scope and fields is ALREADY_EXISTS; `collectionGroups/-` lists the whole database.
 */
export function firestoreIndexModel(server: ContractServer, buildLists = 1): IndexModel {
  const model: IndexModel = { indexes: new Map(), listsUntilReady: new Map() };
  let counter = 0;
  server
    .on("firestore.projects.databases.collectionGroups.indexes.create", ({ params, body }) => {
      const parent = params.parent ?? "";
      const group = parent.split("/collectionGroups/")[1] ?? "";
      if (group === "-")
        throw new ApiError("INVALID_ARGUMENT", "An index needs a collection group, not '-'.");
      const input = (body ?? {}) as { queryScope?: string; fields?: Field[] };
      const fields = [...(input.fields ?? [])];
      if (fields.length === 0)
        throw new ApiError("INVALID_ARGUMENT", "Index.fields: at least one field is needed.");
      const last = fields.at(-1);
      if (last && last.fieldPath !== "__name__")
        fields.push({
          fieldPath: "__name__",
          order: last.order === "DESCENDING" ? "DESCENDING" : "ASCENDING",
        });
      const candidate = { queryScope: input.queryScope ?? "COLLECTION", fields };
      for (const existing of model.indexes.values()) {
        if (existing.name.startsWith(`${parent}/`) && shape(existing, group) === shape(candidate, group))
          throw new ApiError("ALREADY_EXISTS", "index already exists");
      }
      counter += 1;
      const name = `${parent}/indexes/idx${String(counter).padStart(5, "0")}`;
      model.indexes.set(name, { name, ...candidate, apiScope: "ANY_API", state: "CREATING" });
      model.listsUntilReady.set(name, buildLists);
      const database = parent.split("/collectionGroups/")[0] ?? "";
      return {
        body: {
          name: `${database}/operations/op${String(counter).padStart(5, "0")}`,
          done: false,
          metadata: {
            "@type": "type.googleapis.com/google.firestore.admin.v1.IndexOperationMetadata",
            index: name,
            state: "INITIALIZING",
          },
        },
      };
    })
    .on("firestore.projects.databases.collectionGroups.indexes.list", ({ params, query }) => {
      const parent = params.parent ?? "";
      const prefix = parent.endsWith("/collectionGroups/-") ? parent.replace(/-$/, "") : `${parent}/indexes/`;
      const all = [...model.indexes.values()]
        .filter((i) => i.name.startsWith(prefix))
        .sort((a, b) => a.name.localeCompare(b.name));
      for (const index of all) {
        const left = (model.listsUntilReady.get(index.name) ?? 0) - 1;
        model.listsUntilReady.set(index.name, left);
        if (left <= 0 && index.state === "CREATING") index.state = "READY";
      }
      const size = Number(str(query.pageSize) ?? 100) || 100;
      const start = Number(Buffer.from(str(query.pageToken) ?? "", "base64url").toString() || "0");
      const page = all.slice(start, start + size).map((i) => structuredClone(i));
      const next =
        start + size < all.length ? Buffer.from(String(start + size)).toString("base64url") : undefined;
      return { body: next ? { indexes: page, nextPageToken: next } : { indexes: page } };
    })
    .on("firestore.projects.databases.collectionGroups.indexes.delete", ({ params }) => {
      if (!model.indexes.delete(params.name ?? ""))
        throw new ApiError("NOT_FOUND", `Index ${params.name} was not found.`);
      return { body: {} };
    });
  return model;
}
