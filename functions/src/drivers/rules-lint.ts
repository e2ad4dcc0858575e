/**
 * Shared helpers of the staged drivers (hosting, storage, security, analytics, cicd): problems
 * located by setting path or by file:line:column, a small Security Rules linter, the open-rule
 * policy check, the export names of the environment's functions source, stable JSON and hashes.
 */
import {
  INTEGRATION_DEFAULTS,
  type IntegrationSettings,
  type ResolvedEnvironment,
} from "../domain/config-schema.js";
import { NonRetriableError } from "../domain/errors.js";
import type { IntegrationKind } from "../domain/integrations.js";
import { formatPath, type Problem } from "../domain/problems.js";
import type { DriverMode, DriverTarget, SourceReader } from "./types.js";

/** A problem in the same shape the config validator reports: path, what was found, what is allowed. */
export function problem(path: string, found: string, allowed: string): Problem {
  return { path, found, allowed, message: `${path}: found ${found}; allowed: ${allowed}` };
}

/**
 * `settingPath("hosting", "rewrites", 0, "function")` is `integrations.hosting.rewrites[0].function`;
 * an instance's is `integrations["hosting:marketing"].rewrites[0].function`.
 */
export function settingPath(integration: string, ...rest: (string | number)[]): string {
  return formatPath(["integrations", integration, ...rest]);
}

/** A 1-based line and column in a text. */
export interface TextLocation {
  line: number;
  column: number;
}

/** The line and column (both from 1) of a character offset. */
export function locate(text: string, index: number): TextLocation {
  const before = text.slice(0, index);
  const lines = before.split("\n");
  return { line: lines.length, column: (lines[lines.length - 1] ?? "").length + 1 };
}

/** `environments/storage.rules:3:5`. */
export function filePath(file: string, at: TextLocation): string {
  return `${file}:${at.line}:${at.column}`;
}

/** The instances of a kind the environment declares (`functions`, `functions:orders`...), in config order. */
export function instancesOf<K extends IntegrationKind>(
  environment: ResolvedEnvironment,
  kind: K,
): { name: string; settings: IntegrationSettings<K> }[] {
  return environment.integrations.flatMap((integration) =>
    integration.kind === kind
      ? [{ name: integration.name, settings: integration.settings as IntegrationSettings<K> }]
      : [],
  );
}

/** The merged settings of another integration of the environment, if it declares that kind. */
export function settingsOf<K extends IntegrationKind>(
  environment: ResolvedEnvironment,
  kind: K,
): IntegrationSettings<K> | undefined {
  return instancesOf(environment, kind)[0]?.settings;
}

/**
 * Staged kinds have no emulator: they are staged in emulated environments, and (for now) in live
 * ones too, where the verify details say that live mode is not implemented.
 */
export const stagedMode = (_environment: ResolvedEnvironment): DriverMode => "staged";

/** Appended to verify details of a live environment. */
export const liveNote = (environment: ResolvedEnvironment): string =>
  environment.mode === "live" ? "; live mode is not implemented yet, so the release is only staged" : "";

/** The apply of a staged spec: the fabricator never calls it; it refuses if anything does. */
export function refuseLiveApply(target: DriverTarget): Promise<void> {
  return Promise.reject(
    new NonRetriableError(
      target.environment.mode === "live"
        ? "live mode is not implemented yet"
        : "staged integrations have no live apply",
    ),
  );
}

/** What every staged spec shares: staged mode, nothing live to observe, no live apply. */
export const STAGED = {
  mode: stagedMode,
  observe: (): Promise<undefined> => Promise.resolve(undefined),
  apply: (target: DriverTarget): Promise<void> => refuseLiveApply(target),
};

/** A staged verify when nothing has been recorded yet. */
export function nothingStaged(target: DriverTarget): { status: "degraded"; details: string } {
  return {
    status: "degraded",
    details: `staged: no release of ${target.integration} recorded yet for ${target.environment.name}${liveNote(target.environment)}`,
  };
}

/**
 * Replaces comments (and, when asked, the insides of string literals) by spaces, keeping every
 * offset and line break, so later scans report true positions and ignore braces in comments.
 * Also reports where an unterminated block comment or string begins.
 */
export function maskRules(
  text: string,
  options: { strings: boolean },
): { masked: string; unterminated?: { index: number; what: string } } {
  const out = text.split("");
  let unterminated: { index: number; what: string } | undefined;
  const blank = (from: number, to: number) => {
    for (let i = from; i < to; i++) if (out[i] !== "\n") out[i] = " ";
  };
  let i = 0;
  while (i < text.length) {
    const char = text[i];
    const next = text[i + 1];
    if (char === "/" && next === "/") {
      const end = text.indexOf("\n", i);
      const stop = end === -1 ? text.length : end;
      blank(i, stop);
      i = stop;
    } else if (char === "/" && next === "*") {
      const end = text.indexOf("*/", i + 2);
      if (end === -1) {
        unterminated ??= { index: i, what: "a /* comment that is never closed" };
        blank(i, text.length);
        break;
      }
      blank(i, end + 2);
      i = end + 2;
    } else if (char === "'" || char === '"') {
      let j = i + 1;
      while (j < text.length && text[j] !== char && text[j] !== "\n") j += text[j] === "\\" ? 2 : 1;
      if (j >= text.length || text[j] !== char) {
        unterminated ??= { index: i, what: `a string opened with ${char} that is never closed` };
        j = Math.min(j, text.length);
        if (options.strings) blank(i + 1, j);
        i = j;
      } else {
        if (options.strings) blank(i + 1, j);
        i = j + 1;
      }
    } else {
      i += 1;
    }
  }
  return { masked: out.join(""), unterminated };
}

/**
 * Lints a Security Rules file: `rules_version = '2'`, a `service <expected>` block, balanced
 * braces, closed comments and strings. Every problem names file:line:column.
 */
export function lintRules(text: string, file: string, expectedService: string): Problem[] {
  const problems: Problem[] = [];
  const at = (index: number) => filePath(file, locate(text, index));
  const comments = maskRules(text, { strings: false });
  const { masked } = maskRules(text, { strings: true });
  if (comments.unterminated) {
    problems.push(
      problem(at(comments.unterminated.index), comments.unterminated.what, "closed comments and strings"),
    );
  }

  const version = /\brules_version\s*=\s*(['"])([^'"\n]*)\1\s*;?/.exec(comments.masked);
  if (!version) {
    problems.push(
      problem(
        filePath(file, { line: 1, column: 1 }),
        "no rules_version declaration",
        "rules_version = '2'; first",
      ),
    );
  } else if (version[2] !== "2") {
    problems.push(problem(at(version.index), `rules_version = '${version[2]}'`, "rules_version = '2'"));
  }

  const service = /\bservice\s+([A-Za-z0-9_.]+)\s*\{/.exec(masked);
  const anyService = /\bservice\b/.exec(masked);
  if (!service) {
    problems.push(
      problem(
        anyService ? at(anyService.index) : filePath(file, { line: 1, column: 1 }),
        anyService ? "a service declaration without a name and a '{'" : "no service declaration",
        `service ${expectedService} { ... }`,
      ),
    );
  } else if (service[1] !== expectedService) {
    problems.push(problem(at(service.index), `service ${service[1]}`, `service ${expectedService}`));
  }

  const open: number[] = [];
  for (let i = 0; i < masked.length; i++) {
    if (masked[i] === "{") open.push(i);
    else if (masked[i] === "}") {
      if (open.length === 0) problems.push(problem(at(i), "a '}' with no '{' before it", "balanced braces"));
      else open.pop();
    }
  }
  for (const index of open)
    problems.push(problem(at(index), "a '{' that is never closed", "balanced braces"));
  return problems;
}

/** One `allow` statement that lets anyone write: `allow write: if true;`, `allow create;`, ... */
export interface OpenRule extends TextLocation {
  file: string;
  statement: string;
  operations: string[];
}

const WRITE_OPERATIONS = new Set(["write", "create", "update", "delete"]);

/** Every `allow` statement granting a write operation unconditionally (no condition, or one that is always true). */
export function findOpenWrites(text: string, file: string): OpenRule[] {
  const { masked } = maskRules(text, { strings: true });
  const found: OpenRule[] = [];
  const pattern = /\ballow\s+([A-Za-z][A-Za-z\s,]*?)\s*(?::\s*if\b([^;}]*))?\s*(?:;|(?=\}))/g;
  for (const match of masked.matchAll(pattern)) {
    const operations = (match[1] ?? "")
      .split(",")
      .map((operation) => operation.trim())
      .filter(Boolean);
    const condition = match[2]?.replace(/\s+/g, " ").trim();
    const alwaysTrue =
      condition === undefined ||
      /^\(*\s*true\s*\)*$/.test(condition) ||
      /(^|\|\|)\s*true\s*(\|\||$)/.test(condition);
    if (!alwaysTrue || !operations.some((operation) => WRITE_OPERATIONS.has(operation))) continue;
    const index = match.index;
    found.push({
      file,
      ...locate(text, index),
      statement: text
        .slice(index, index + match[0].length)
        .replace(/\s+/g, " ")
        .trim(),
      operations,
    });
  }
  return found;
}

/** The exported names of one functions source (`export const api = ...`). */
export interface FunctionExports {
  source: string;
  main: string;
  names: string[];
}

/**
 * The functions sources an environment deploys: every functions instance's `source` (each is its
 * own codebase, and a Hosting rewrite may name a function of any), or the default when none is declared.
 */
export function functionSources(environment: ResolvedEnvironment): string[] {
  const declared = instancesOf(environment, "functions").map((instance) => instance.settings.source);
  return declared.length > 0 ? [...new Set(declared)] : [INTEGRATION_DEFAULTS.functions.source];
}

/** Reads a functions source and lists the names its main file exports; a string says why it could not. */
export async function functionExports(
  sources: SourceReader,
  source: string,
): Promise<FunctionExports | string> {
  let mainName = "index.js";
  const manifest = await sources.readText(`${source}/package.json`);
  if (manifest !== undefined) {
    try {
      const parsed = JSON.parse(manifest) as { main?: unknown };
      if (typeof parsed.main === "string" && parsed.main.length > 0) mainName = parsed.main;
    } catch {
      return `${source}/package.json is not valid JSON`;
    }
  }
  const main = `${source}/${mainName.replace(/^\.\//, "")}`;
  const text = await sources.readText(main);
  if (text === undefined) return `the functions source ${main} does not exist`;
  const { masked } = maskRules(text, { strings: true });
  const names = new Set<string>();
  for (const match of masked.matchAll(
    /^\s*export\s+(?:const|let|var|(?:async\s+)?function\*?|class)\s+([A-Za-z_$][\w$]*)/gm,
  )) {
    names.add(match[1] ?? "");
  }
  for (const match of masked.matchAll(/^\s*export\s*\{([^}]*)\}/gm)) {
    for (const part of (match[1] ?? "").split(",")) {
      const name = part
        .trim()
        .split(/\s+as\s+/)
        .pop()
        ?.trim();
      if (name) names.add(name);
    }
  }
  names.delete("");
  return { source, main, names: [...names].sort() };
}
