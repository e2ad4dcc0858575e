import { ApiError } from "../resources.js";
import type { ContractServer } from "../server.js";

/** The enforcement modes of a Service (GoogleFirebaseAppcheckV1Service.enforcementMode). */
export type EnforcementMode = "OFF" | "UNENFORCED" | "ENFORCED";

/** One service's configuration as the model keeps it. */
export type StoredService = {
  enforcementMode: EnforcementMode;
  replayProtection: EnforcementMode;
  etag: string;
};

/** What the model holds, for tests to seed and inspect. */
export type AppCheckModel = {
  /** `projects/P/services/S` -> its configuration; a supported service never configured reads as OFF. */
  services: Map<string, StoredService>;
};

/** The service ids the v1 reference lists as supported. */
export const APP_CHECK_SERVICES = [
  "firebasestorage.googleapis.com",
  "firebasedatabase.googleapis.com",
  "firestore.googleapis.com",
  "oauth2.googleapis.com",
];

const LEVEL: Record<EnforcementMode, number> = { OFF: 0, UNENFORCED: 1, ENFORCED: 2 };

/**
 * Firebase App Check v1 `projects.services.get` / `patch` as the reference describes them, on a
 * contract server: only the supported service ids (others 400 INVALID_ARGUMENT); a service never
 * configured is OFF; answers are proto3 JSON, so OFF (the enum's zero) is left out; `patch` changes
 * the fields its required update mask names, refuses replay protection above the enforcement mode
 * (400, as the reference says). Projects not in `projects` answer 403. (The optional `etag`
 * precondition is not modelled: the reference does not say how a stale one is answered, and the
 * driver sends none.)
 */
export function firebaseAppCheckModel(server: ContractServer, projects: string[]): AppCheckModel {
  const model: AppCheckModel = { services: new Map() };
  let writes = 0;
  const find = (name: string | undefined): [string, StoredService] => {
    const [, project = "", , service = ""] = (name ?? "").split("/");
    if (!projects.includes(project))
      throw new ApiError(
        "PERMISSION_DENIED",
        `The caller does not have permission (or project ${project} does not exist).`,
      );
    if (!APP_CHECK_SERVICES.includes(service))
      throw new ApiError("INVALID_ARGUMENT", `${service} is not a service App Check supports.`);
    const key = `projects/${project}/services/${service}`;
    return [key, model.services.get(key) ?? { enforcementMode: "OFF", replayProtection: "OFF", etag: "0" }];
  };
  const answer = (name: string, service: StoredService) => ({
    body: {
      name,
      ...(service.enforcementMode !== "OFF" ? { enforcementMode: service.enforcementMode } : {}),
      ...(service.replayProtection !== "OFF" ? { replayProtection: service.replayProtection } : {}),
      etag: service.etag,
    },
  });
  server
    .on("firebaseappcheck.projects.services.get", ({ params }) => {
      const [name, service] = find(params.name);
      return answer(name, service);
    })
    .on("firebaseappcheck.projects.services.patch", ({ params, query, body }) => {
      const [name, current] = find(params.name);
      const sent = (body ?? {}) as Partial<StoredService>;
      const mask = String(query.updateMask ?? "")
        .split(",")
        .filter((field) => field !== "");
      const updated = { ...current };
      for (const field of mask) {
        if (field === "enforcement_mode" || field === "enforcementMode")
          updated.enforcementMode = sent.enforcementMode ?? "OFF";
        else if (field === "replay_protection" || field === "replayProtection")
          updated.replayProtection = sent.replayProtection ?? "OFF";
        else
          throw new ApiError("INVALID_ARGUMENT", `The update mask names ${field}, which cannot be updated.`);
      }
      if (LEVEL[updated.replayProtection] > LEVEL[updated.enforcementMode])
        throw new ApiError(
          "INVALID_ARGUMENT",
          "Replay protection cannot be set to a level higher than the App Check enforcement mode.",
        );
      updated.etag = String((writes += 1));
      model.services.set(name, updated);
      return answer(name, updated);
    });
  return model;
}
