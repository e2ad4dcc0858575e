/**
 * Cloud Storage, staged (the Storage emulator's jar is not on this machine): validates the bucket
 * settings (location, CORS, lifecycle) and lints the storage rules file, and records the bucket
 * config with the rules digest as the release. No bucket is touched.
 */
import { instanceOf } from "../domain/integrations.js";
import type { Problem } from "../domain/problems.js";
import { lintRules, maskRules, liveNote, nothingStaged, problem, STAGED, settingPath } from "./rules-lint.js";
import type { DriverSpec } from "./types.js";
import { sha256, stableJson } from "../domain/digest.js";

/** The staged bucket: its config and the rules it would carry. */
export interface StorageRelease {
  bucket: string;
  location: string;
  cors: { origin: string[]; method: string[]; max_age_seconds: number }[];
  lifecycle: { delete_after_days: number | null };
  rules: { file: string; sha256: string };
}

const METHODS = ["GET", "HEAD", "PUT", "POST", "DELETE", "OPTIONS"];
const ORIGIN =
  /^https?:\/\/(localhost|\[[0-9a-f:]+\]|(\*\.)?([a-z0-9]([a-z0-9-]*[a-z0-9])?\.)*[a-z0-9]([a-z0-9-]*[a-z0-9])?)(:\d{1,5})?$/;
/** Locations Cloud Storage accepts here: the configured regions plus multi-regions. */
const LOCATION = /^(us|eu|asia|nam5|eur3|[a-z]+-[a-z]+\d+)$/;

/** The default bucket for the kind's default instance; an instance's own bucket is named after it. */
const bucketOf = (projectId: string, integration: string): string => {
  const instance = instanceOf(integration);
  return instance === null ? `${projectId}.firebasestorage.app` : `${projectId}-${instance}`;
};

export const storageDriver: DriverSpec<"storage", StorageRelease> = {
  kind: "storage",
  ...STAGED,

  async desired(target, io) {
    const settings = target.settings;
    const problems: Problem[] = [];
    const at = (...rest: (string | number)[]) => settingPath(target.integration, ...rest);

    if (!LOCATION.test(settings.location)) {
      problems.push(
        problem(at("location"), JSON.stringify(settings.location), "a Cloud Storage region or multi-region"),
      );
    }
    settings.cors.forEach((entry, index) => {
      if (entry.origin.length === 0)
        problems.push(problem(at("cors", index, "origin"), "no origins", "at least one origin"));
      entry.origin.forEach((origin, position) => {
        if (origin !== "*" && !ORIGIN.test(origin)) {
          problems.push(
            problem(
              at("cors", index, "origin", position),
              JSON.stringify(origin),
              '"*" or an http(s) origin such as https://app.example.com (scheme, host and port; no path)',
            ),
          );
        }
      });
      if (entry.method.length === 0)
        problems.push(problem(at("cors", index, "method"), "no methods", "at least one method"));
      const seen = new Set<string>();
      entry.method.forEach((method, position) => {
        if (!METHODS.includes(method)) {
          problems.push(
            problem(
              at("cors", index, "method", position),
              JSON.stringify(method),
              `one of ${METHODS.join(", ")}`,
            ),
          );
        } else if (seen.has(method)) {
          problems.push(
            problem(at("cors", index, "method", position), `"${method}" listed twice`, "each method once"),
          );
        }
        seen.add(method);
      });
      if (
        !Number.isInteger(entry.max_age_seconds) ||
        entry.max_age_seconds < 0 ||
        entry.max_age_seconds > 86400
      ) {
        problems.push(
          problem(
            at("cors", index, "max_age_seconds"),
            String(entry.max_age_seconds),
            "an integer from 0 to 86400",
          ),
        );
      }
    });
    const days = settings.lifecycle_delete_after_days;
    if (days !== null && (!Number.isInteger(days) || days < 1 || days > 3650)) {
      problems.push(
        problem(
          at("lifecycle_delete_after_days"),
          String(days),
          "null (keep objects) or an integer from 1 to 3650",
        ),
      );
    }

    const file = settings.rules_file;
    const text = await io.sources.readText(file);
    if (text === undefined) {
      problems.push(
        problem(
          at("rules_file"),
          `"${file}", which does not exist`,
          "a storage rules file of the repository",
        ),
      );
    } else {
      problems.push(...lintRules(text, file, "firebase.storage"));
      if (!/\bmatch\s+\/b\/\{[A-Za-z_]\w*\}\/o\b/.test(maskRules(text, { strings: false }).masked)) {
        problems.push(
          problem(
            `${file}:1:1`,
            "no match /b/{bucket}/o block",
            "rules inside match /b/{bucket}/o { ... }, the path Storage evaluates",
          ),
        );
      }
    }

    const state: StorageRelease = {
      bucket: bucketOf(target.environment.project_id, target.integration),
      location: settings.location,
      cors: settings.cors.map((entry) => ({
        origin: [...entry.origin],
        method: [...entry.method],
        max_age_seconds: entry.max_age_seconds,
      })),
      lifecycle: { delete_after_days: days },
      rules: { file, sha256: text === undefined ? "" : sha256(text) },
    };
    return {
      state,
      problems,
      artifact: {
        name: `storage/${target.environment.name}/bucket.json`,
        content: stableJson({
          project_id: target.environment.project_id,
          bucket: state.bucket,
          location: state.location,
          cors: state.cors.map((entry) => ({
            origin: entry.origin,
            method: entry.method,
            maxAgeSeconds: entry.max_age_seconds,
          })),
          lifecycle:
            days === null
              ? { rule: [] }
              : { rule: [{ action: { type: "Delete" }, condition: { age: days } }] },
          rules: state.rules,
        }),
      },
    };
  },

  async verify(target, io, release) {
    if (!release) return nothingStaged(target);
    const recorded = release.state as Partial<StorageRelease> | undefined;
    const suffix = liveNote(target.environment);
    if (!recorded?.rules || typeof recorded.rules.file !== "string") {
      return {
        status: "degraded",
        details: `staged release ${release.number} holds no storage rules digest${suffix}`,
      };
    }
    const text = await io.sources.readText(recorded.rules.file);
    if (text === undefined) {
      return {
        status: "degraded",
        details: `staged release ${release.number}: rules file ${recorded.rules.file} is missing${suffix}`,
      };
    }
    if (sha256(text) !== recorded.rules.sha256) {
      return {
        status: "degraded",
        details: `staged release ${release.number}: ${recorded.rules.file} changed since it was staged${suffix}`,
      };
    }
    return {
      status: "healthy",
      details: `staged release ${release.number} of bucket ${recorded.bucket ?? "?"} matches ${recorded.rules.file}; nothing live touched${suffix}`,
    };
  },
};
