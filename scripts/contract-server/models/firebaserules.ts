import { ApiError } from "../resources.js";
import type { ContractServer } from "../server.js";

type Ruleset = { name: string; source: { files: { name: string; content: string }[] }; createTime: string };
type Release = { name: string; rulesetName: string; createTime: string; updateTime: string };

/** What the model holds, for tests to inspect. */
export type RulesModel = { rulesets: Map<string, Ruleset>; releases: Map<string, Release> };

/** The first place braces stop balancing, as the compiler would name it ("L3:1 ..."), or undefined. */
function braceProblem(content: string): string | undefined {
  let depth = 0;
  const lines = content.split("\n");
  for (const [index, line] of lines.entries()) {
    for (const [column, char] of [...line].entries()) {
      if (char === "{") depth += 1;
      if (char === "}") depth -= 1;
      if (depth < 0) return `L${index + 1}:${column + 1} Unexpected '}'.`;
    }
  }
  return depth > 0 ? `L${lines.length}:1 Missing '}'.` : undefined;
}

/**
 * Firebase Rules v1 as its reference describes it, on a contract server: a ruleset is an immutable
 * copy of its source with a generated name, refused (400) when the source does not compile (here:
 * no `service` declaration, or unbalanced braces, reported with line and column as the compiler
 * does); a release names an existing ruleset; creating a release that exists is ALREADY_EXISTS and
 * patching one that does not is NOT_FOUND (firebase-tools patches, then creates on 404).
 */
export function firebaseRulesModel(server: ContractServer, now: () => Date = () => new Date()): RulesModel {
  const model: RulesModel = { rulesets: new Map(), releases: new Map() };
  let counter = 0;
  const rulesetMustExist = (project: string, rulesetName: string | undefined) => {
    if (!rulesetName || !model.rulesets.has(rulesetName) || !rulesetName.startsWith(`${project}/rulesets/`))
      throw new ApiError("NOT_FOUND", `Ruleset ${rulesetName ?? "(none)"} was not found in ${project}.`);
  };
  server
    .on("firebaserules.projects.rulesets.create", ({ params, body }) => {
      const files = ((body ?? {}) as { source?: { files?: { name?: string; content?: string }[] } }).source
        ?.files;
      if (!files || files.length === 0)
        throw new ApiError("INVALID_ARGUMENT", "Ruleset.source.files: a ruleset needs at least one file.");
      for (const file of files) {
        if (!file.name || typeof file.content !== "string")
          throw new ApiError(
            "INVALID_ARGUMENT",
            "Ruleset.source.files: every file needs a name and content.",
          );
        const problem = /\bservice\s+[\w.]+\s*\{/.test(file.content)
          ? braceProblem(file.content)
          : "L1:1 Expected a service declaration.";
        if (problem) throw new ApiError("INVALID_ARGUMENT", `Syntax error in ${file.name}: ${problem}`);
      }
      counter += 1;
      const ruleset: Ruleset = {
        name: `${params.name ?? ""}/rulesets/rs-${String(counter).padStart(6, "0")}`,
        source: { files: files.map((f) => ({ name: f.name ?? "", content: f.content ?? "" })) },
        createTime: now().toISOString(),
      };
      model.rulesets.set(ruleset.name, ruleset);
      return { body: ruleset };
    })
    .on("firebaserules.projects.rulesets.get", ({ params }) => {
      const ruleset = model.rulesets.get(params.name ?? "");
      if (!ruleset) throw new ApiError("NOT_FOUND", `Ruleset ${params.name} was not found.`);
      return { body: ruleset };
    })
    .on("firebaserules.projects.releases.create", ({ params, body }) => {
      const input = (body ?? {}) as { name?: string; rulesetName?: string };
      const project = params.name ?? "";
      if (!input.name?.startsWith(`${project}/releases/`))
        throw new ApiError(
          "INVALID_ARGUMENT",
          `Release.name ${input.name ?? "(none)"} is not a release of ${project}.`,
        );
      if (model.releases.has(input.name))
        throw new ApiError("ALREADY_EXISTS", `Release ${input.name} already exists.`);
      rulesetMustExist(project, input.rulesetName);
      const stamp = now().toISOString();
      const release: Release = {
        name: input.name,
        rulesetName: input.rulesetName ?? "",
        createTime: stamp,
        updateTime: stamp,
      };
      model.releases.set(release.name, release);
      return { body: release };
    })
    .on("firebaserules.projects.releases.get", ({ params }) => {
      const release = model.releases.get(params.name ?? "");
      if (!release) throw new ApiError("NOT_FOUND", `Release ${params.name} was not found.`);
      return { body: release };
    })
    .on("firebaserules.projects.releases.patch", ({ params, body }) => {
      const release = model.releases.get(params.name ?? "");
      if (!release) throw new ApiError("NOT_FOUND", `Release ${params.name} was not found.`);
      const wanted = ((body ?? {}) as { release?: { rulesetName?: string } }).release?.rulesetName;
      rulesetMustExist(release.name.split("/releases/")[0] ?? "", wanted);
      const updated = {
        ...release,
        rulesetName: wanted ?? release.rulesetName,
        updateTime: now().toISOString(),
      };
      model.releases.set(updated.name, updated);
      return { body: updated };
    });
  return model;
}
