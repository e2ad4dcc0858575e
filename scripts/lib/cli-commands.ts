/**
 * The CLI's commands, generated from the API's route table: one command per route, named after
 * its path, its path parameters as positional arguments and one flag per property of its query
 * or body schema. A new route gets its command with no edit here; a hand-written convenience
 * (cli-conveniences.ts) only renames a command or a flag, adds a flag or replaces the output.
 */
import type { z } from "zod";
import { formatPath, zodIssueToProblem } from "../../functions/src/domain/problems.js";
import { usageError } from "./cli-exit.js";
import { WHOLE_BODY, fieldValue, flagName, flagsOf, type FieldFlag } from "./cli-flags.js";

/** What generation needs of a route (functions/src/handlers/routes.ts declares more). */
export interface RouteShape {
  method: "GET" | "POST" | "DELETE";
  path: string;
  summary: string;
  query?: z.ZodType;
  body?: z.ZodType;
}

/** A flag a convenience adds (not a field of the request). */
export interface ExtraFlag {
  flag: string;
  kind: "string" | "boolean";
  description: string;
}

/** The request a command sends, before and after its convenience fills in what the user left out. */
export interface RequestParts {
  params: Record<string, string | undefined>;
  query: Record<string, unknown>;
  body: unknown;
}

/** How a convenience adjusts a generated command; everything it leaves out stays generated. */
export interface Convenience<Context = unknown> {
  /** Command words instead of the generated ones, e.g. `["cancel"]` for `POST /deployments/{id}/cancel`. */
  name?: readonly string[];
  /** Flags under other names: field → flag, e.g. `{ environment: "env" }`. */
  flags?: Readonly<Record<string, string>>;
  extraFlags?: readonly ExtraFlag[];
  /** A field filled from the positional arguments after the path parameters, words joined by spaces. */
  restField?: string;
  /** Error statuses that are answers to print, not failures (an infeasible plan's 422 and its conflicts). */
  answerStatuses?: readonly number[];
  /** The path parameters may be left out: the command's run decides what to do without them. */
  optionalParams?: boolean;
  /** More help, after the generated flag list. */
  help?: string;
  /** Required fields that prepare fills in when left out: their flags are optional on the command line. */
  fills?: readonly string[];
  /** Fills in what the user left out (e.g. every integration an environment declares), before validation. */
  prepare?: (parts: RequestParts, context: Context) => Promise<void> | void;
  /** Sends the request and prints the answer its own way; answers the exit code. */
  run?: (context: Context) => Promise<number | void>;
  /** Prints the answer its own way (without --json); answers the exit code. */
  print?: (answer: unknown, context: Context) => number | void;
}

/** Flags every command takes besides its own. */
export const OUTPUT_FLAGS: readonly ExtraFlag[] = [
  { flag: "json", kind: "boolean", description: "print the API's answer as JSON" },
  { flag: "out", kind: "string", description: "write the answer (a document as is, else JSON) to this file" },
];

export interface Command {
  words: readonly string[];
  /** `METHOD /path`, as the route table declares it. */
  route: string;
  method: RouteShape["method"];
  path: string;
  summary: string;
  /** Path parameters, in order: the positional arguments. */
  params: readonly string[];
  flags: readonly FieldFlag[];
  extraFlags: readonly ExtraFlag[];
  convenience: Convenience | undefined;
  schemas: { query?: z.ZodType | undefined; body?: z.ZodType | undefined };
}

export const routeKey = (route: Pick<RouteShape, "method" | "path">) => `${route.method} ${route.path}`;

const paramsOf = (path: string) => [...path.matchAll(/\{(\w+)\}/g)].map((match) => match[1]!);

/** The literal segments of a path as command words: `/openapi.json` → `openapi`. */
function baseWords(path: string): string[] {
  return path
    .split("/")
    .filter((segment) => segment.length > 0 && !segment.startsWith("{"))
    .map((segment) =>
      segment
        .replace(/\.[a-z]+$/, "")
        .toLowerCase()
        .replace(/[^a-z0-9-]+/g, "-"),
    );
}

/**
 * Fields every route names the same way get the same short flag: `--env` for the environment (or
 * environments) a request acts on, as people type it most.
 */
export const CONVENTIONAL_FLAG_NAMES: Readonly<Record<string, string>> = {
  environment: "env",
  environments: "env",
};

/** The verb that tells apart routes on one path (or a path that other routes extend). */
const METHOD_VERBS: Record<RouteShape["method"], string> = { GET: "get", POST: "post", DELETE: "delete" };

const startsWith = (words: readonly string[], prefix: readonly string[]) =>
  prefix.length <= words.length && prefix.every((word, index) => words[index] === word);

/**
 * The command of each route. Generated names are the path's literal segments; where two routes
 * share them, or other commands extend them, the method's verb is added (`config get`,
 * `config post`). Throws, naming the routes, when names still collide or a convenience names a
 * route or a field that does not exist.
 */
export function generateCommands<Context>(
  routes: readonly RouteShape[],
  conveniences: Readonly<Record<string, Convenience<Context>>> = {},
): Command[] {
  const keys = new Set(routes.map(routeKey));
  for (const key of Object.keys(conveniences))
    if (!keys.has(key)) throw new Error(`a convenience is written for ${key}, which the route table lacks`);

  const bases = routes.map((route) => conveniences[routeKey(route)]?.name ?? baseWords(route.path));
  const words = routes.map((route, index) => {
    const base = bases[index]!;
    if (conveniences[routeKey(route)]?.name) return [...base];
    const shared = bases.some((other, otherIndex) => otherIndex !== index && startsWith(other, base));
    return shared ? [...base, METHOD_VERBS[route.method]] : [...base];
  });

  const commands = routes.map((route, index): Command => {
    const key = routeKey(route);
    const convenience = conveniences[key] as Convenience | undefined;
    const names = { ...CONVENTIONAL_FLAG_NAMES, ...convenience?.flags };
    const flags = [...flagsOf(route.query, "query", names), ...flagsOf(route.body, "body", names)];
    for (const field of Object.keys(convenience?.flags ?? {}))
      if (!flags.some((flag) => flag.field === field))
        throw new Error(`${key}: the convenience renames field ${field}, which its schemas lack`);
    if (convenience?.restField && !flags.some((flag) => flag.field === convenience.restField))
      throw new Error(`${key}: restField ${convenience.restField} is no field of its schemas`);
    const extraFlags = [...(convenience?.extraFlags ?? []), ...OUTPUT_FLAGS];
    const taken = new Set<string>(GLOBAL_FLAGS.map((flag) => flag.flag));
    for (const flag of [...flags.map((f) => f.flag), ...extraFlags.map((f) => f.flag)]) {
      if (taken.has(flag)) throw new Error(`${key}: flag --${flag} is declared twice`);
      taken.add(flag);
    }
    return {
      words: words[index]!,
      route: key,
      method: route.method,
      path: route.path,
      summary: route.summary,
      params: paramsOf(route.path),
      flags,
      extraFlags,
      convenience,
      schemas: { query: route.query, body: route.body },
    };
  });

  for (const [index, command] of commands.entries())
    for (const other of commands.slice(index + 1)) {
      if (startsWith(command.words, other.words) || startsWith(other.words, command.words))
        throw new Error(
          `${command.route} and ${other.route} would be \`orch ${command.words.join(" ")}\` and \`orch ${other.words.join(" ")}\`: give one a name in scripts/lib/cli-conveniences.ts`,
        );
    }
  return commands;
}

/** Flags of every command: where the API is and who is asking. */
export const GLOBAL_FLAGS: readonly ExtraFlag[] = [
  {
    flag: "url",
    kind: "string",
    description:
      "API base URL, with or without /api/orchestration (env ORCH_URL, else ORCH_API_URL, else http://127.0.0.1:5000)",
  },
  {
    flag: "token",
    kind: "string",
    description: "Firebase ID token, sent as Authorization: Bearer (env ORCH_TOKEN)",
  },
  { flag: "api-key", kind: "string", description: "API key, sent as X-Api-Key (env ORCH_API_KEY)" },
  {
    flag: "verbose",
    kind: "boolean",
    description: "print each request and answer status to stderr (credentials redacted)",
  },
  { flag: "help", kind: "boolean", description: "show help" },
];

/** Path parameters are ids and names: kept to characters a URL segment carries as is. */
const PARAM_VALUE = /^[A-Za-z0-9_.:-]{1,128}$/;

/** The request parts from parsed flags and positional arguments (not yet validated). */
export function requestParts(
  command: Command,
  values: Readonly<Record<string, unknown>>,
  positionals: readonly string[],
): RequestParts {
  const params: Record<string, string | undefined> = {};
  const restField = command.convenience?.restField;
  for (const [index, param] of command.params.entries()) {
    const value = positionals[index];
    if (value === undefined) {
      if (command.convenience?.optionalParams) continue;
      throw usageError(`missing <${param}>: orch ${command.words.join(" ")} <${command.params.join("> <")}>`);
    }
    if (!PARAM_VALUE.test(value))
      throw usageError(
        `<${param}> ${JSON.stringify(value)} must be 1-128 letters, digits, '.', ':', '-' or '_'`,
      );
    params[param] = value;
  }
  const rest = positionals.slice(command.params.length);
  if (rest.length > 0 && !restField) throw usageError(`unexpected argument ${JSON.stringify(rest[0])}`);

  const query: Record<string, unknown> = {};
  const bodyFields: Record<string, unknown> = {};
  let body: unknown;
  for (const flag of command.flags) {
    const value = fieldValue(flag, values[flag.flag]);
    if (value === undefined) continue;
    if (flag.field === WHOLE_BODY) body = value;
    else (flag.in === "query" ? query : bodyFields)[flag.field] = value;
  }
  if (restField && rest.length > 0) {
    const target = command.flags.find((flag) => flag.field === restField)!;
    (target.in === "query" ? query : bodyFields)[restField] = rest.join(" ");
  }
  if (body === undefined && command.schemas.body && command.flags.some((flag) => flag.in === "body"))
    body = bodyFields;
  return { params, query, body };
}

/** The path with its parameters filled in. */
export function filledPath(command: Command, params: RequestParts["params"]): string {
  return command.path.replace(/\{(\w+)\}/g, (_match, name: string) => encodeURIComponent(params[name] ?? ""));
}

/**
 * Checks the query and body against the route's own schemas, as the API will, so bad input is
 * refused before anything is sent, each problem naming the flag and the field.
 */
export function validateParts(command: Command, parts: RequestParts): void {
  const problems: string[] = [];
  for (const place of ["query", "body"] as const) {
    const schema = command.schemas[place];
    const input = parts[place];
    if (!schema) continue;
    const result = schema.safeParse(input);
    if (result.success) continue;
    for (const issue of result.error.issues) {
      const field = issue.path[0];
      const flag = command.flags.find(
        (candidate) =>
          candidate.in === place && (candidate.field === field || candidate.field === WHOLE_BODY),
      );
      const problem = zodIssueToProblem(issue, input, schema);
      const path = formatPath(issue.path);
      // The flag, and the field inside it when that is not plain from the flag's name.
      const where = !flag
        ? `${place} ${path}`
        : flag.field === WHOLE_BODY
          ? `--${flag.flag} ${path}`
          : flag.flag === flagName(path)
            ? `--${flag.flag}`
            : `--${flag.flag} (${path})`;
      const missing = flag && valueAtField(input, field) === undefined && issue.path.length === 1;
      problems.push(
        missing
          ? `${where}: required (${problem.allowed})`
          : `${where}: found ${problem.found}; allowed: ${problem.allowed}`,
      );
    }
  }
  if (problems.length > 0)
    throw usageError(
      `orch ${command.words.join(" ")}: ${problems.length} problem(s) with the input`,
      problems,
    );
}

function valueAtField(input: unknown, field: PropertyKey | undefined): unknown {
  return typeof input === "object" && input !== null && field !== undefined
    ? (input as Record<PropertyKey, unknown>)[field]
    : undefined;
}
