/**
 * Security rules through the Firebase Rules API (v1), as `firebase deploy` releases them: a ruleset
 * is created from the source (which compiles it), then the service's release is pointed at it:
 * patched, or created on a project that never had one. Firestore's release is `cloud.firestore`,
 * a Storage bucket's `firebase.storage/<bucket>`.
 */
import { NonRetriableError } from "../../domain/errors.js";
import { callGoogle, callGoogleData, rulesApi, type GoogleAccess } from "./google.js";

/** Which release, and the file name its ruleset carries the source under. */
export interface RulesTarget {
  project: string;
  release: string;
  file: string;
}

/** The source the release serves; null when the project never had it released. */
export async function releasedRules(access: GoogleAccess, target: RulesTarget): Promise<string | null> {
  const api = await rulesApi(access);
  const release = await callGoogle(
    access,
    `reading the ${target.release} release of ${target.project}`,
    "firebaserules.releases.get",
    () => api.projects.releases.get({ name: `projects/${target.project}/releases/${target.release}` }),
    [404],
  );
  if (!release.ok || !release.data.rulesetName) return null;
  const rulesetName = release.data.rulesetName;
  const ruleset = await callGoogleData(access, `reading ${rulesetName}`, "firebaserules.rulesets.get", () =>
    api.projects.rulesets.get({ name: rulesetName }),
  );
  const files = ruleset.source?.files ?? [];
  return (files.find((f) => f.name === target.file) ?? files[0])?.content ?? "";
}

/** Compiles `source` into a ruleset and points the release at it; a source that does not compile releases nothing. */
export async function releaseRules(access: GoogleAccess, target: RulesTarget, source: string): Promise<void> {
  const api = await rulesApi(access);
  const { project } = target;
  const ruleset = await callGoogle(
    access,
    `compiling the rules for ${project}`,
    "firebaserules.rulesets.create",
    () =>
      api.projects.rulesets.create({
        name: `projects/${project}`,
        requestBody: { source: { files: [{ name: target.file, content: source }] } },
      }),
    [400],
  );
  if (!ruleset.ok)
    throw new NonRetriableError(
      `the Firebase Rules API refused ${target.file} for ${project} (nothing was released; the previous rules stay): ${ruleset.failure.message}`,
    );
  const name = `projects/${project}/releases/${target.release}`;
  const rulesetName = ruleset.data.name ?? "";
  const patched = await callGoogle(
    access,
    `releasing ${rulesetName} as ${target.release}`,
    "firebaserules.releases.update",
    () => api.projects.releases.patch({ name, requestBody: { release: { name, rulesetName } } }),
    [404],
  );
  if (patched.ok) return;
  // A project that never had these rules: the release does not exist yet.
  await callGoogleData(
    access,
    `creating the ${target.release} release`,
    "firebaserules.releases.create",
    () => api.projects.releases.create({ name: `projects/${project}`, requestBody: { name, rulesetName } }),
  );
}
