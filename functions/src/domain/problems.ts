/** Turns validation failures into problems a person can act on: the path, what was found, what is allowed. */
import type { z } from "zod";

/** One thing wrong with an input, located by its JSON path. */
export interface Problem {
  /** JSON path such as `environments[1].overrides.functions.min_instances`; `$` is the whole document. */
  path: string;
  /** What the input holds there. */
  found: string;
  /** What would be accepted there. */
  allowed: string;
  /** The three above in one line. */
  message: string;
}

/** `["environments", 1, "name"]` becomes `environments[1].name`. */
export function formatPath(path: readonly PropertyKey[]): string {
  if (path.length === 0) return "$";
  return path
    .map((part, index) => {
      if (typeof part === "number") return `[${part}]`;
      const text = String(part);
      const plain = /^[A-Za-z_$][A-Za-z0-9_$-]*$/.test(text);
      if (!plain) return `[${JSON.stringify(text)}]`;
      return index === 0 ? text : `.${text}`;
    })
    .join("");
}

/** The value at a path of a parsed JSON document, or undefined. */
export function valueAt(root: unknown, path: readonly PropertyKey[]): unknown {
  let current: unknown = root;
  for (const part of path) {
    if (typeof current !== "object" || current === null) return undefined;
    current = (current as Record<PropertyKey, unknown>)[part];
  }
  return current;
}

/** A short description of a JSON value for messages: `number 42`, `string "x"`, `nothing`. */
export function describeValue(value: unknown): string {
  if (value === undefined) return "nothing";
  if (value === null) return "null";
  if (Array.isArray(value)) return `an array of ${value.length}`;
  switch (typeof value) {
    case "string": {
      const shown = value.length > 60 ? `${value.slice(0, 57)}...` : value;
      return `string ${JSON.stringify(shown)}`;
    }
    case "number":
    case "boolean":
      return `${typeof value} ${String(value)}`;
    case "object":
      return "an object";
    default:
      return typeof value;
  }
}

const TYPE_NAMES: Record<string, string> = {
  int: "an integer",
  number: "a number",
  string: "a string",
  boolean: "true or false",
  array: "an array",
  object: "an object",
  record: "an object",
};

type ZodInternals = { _zod: { def: Record<string, unknown> & { type: string } } };

/** The keys an object schema accepts at a path, by walking the schema (unwrapping optional, default, arrays). */
function allowedKeysAt(schema: z.ZodType, path: readonly PropertyKey[]): string[] {
  let node = schema as unknown as ZodInternals;
  const unwrap = () => {
    for (;;) {
      const def = node._zod.def;
      if (
        def.type === "optional" ||
        def.type === "default" ||
        def.type === "nullable" ||
        def.type === "prefault"
      ) {
        node = def.innerType as ZodInternals;
      } else if (def.type === "pipe") {
        node = def.in as ZodInternals;
      } else return;
    }
  };
  for (const part of path) {
    unwrap();
    const def = node._zod.def;
    if (def.type === "object" && typeof part === "string") {
      const next = (def.shape as Record<string, ZodInternals>)[part];
      if (!next) return [];
      node = next;
    } else if (def.type === "array" && typeof part === "number") {
      node = def.element as ZodInternals;
    } else if (def.type === "record") {
      node = def.valueType as ZodInternals;
    } else return [];
  }
  unwrap();
  const def = node._zod.def;
  return def.type === "object" ? Object.keys(def.shape as object) : [];
}

/** Converts one zod issue into a Problem, reading what was found from the raw input. */
export function zodIssueToProblem(issue: z.core.$ZodIssue, raw: unknown, schema: z.ZodType): Problem {
  let path: PropertyKey[] = [...issue.path];
  let found = describeValue(valueAt(raw, path));
  let allowed: string;
  switch (issue.code) {
    case "invalid_type":
      allowed = TYPE_NAMES[issue.expected] ?? issue.expected;
      if (valueAt(raw, path) === undefined) found = "nothing (the field is required)";
      break;
    case "invalid_value":
      allowed =
        issue.values.length === 1
          ? JSON.stringify(issue.values[0])
          : `one of ${issue.values.map((v) => JSON.stringify(v)).join(", ")}`;
      break;
    case "too_small": {
      const min = Number(issue.minimum);
      const bound = issue.inclusive ? `at least ${min}` : `more than ${min}`;
      allowed =
        issue.origin === "array"
          ? `${bound} item(s)`
          : issue.origin === "string"
            ? `${bound} character(s)`
            : bound;
      break;
    }
    case "too_big": {
      const max = Number(issue.maximum);
      const bound = issue.inclusive ? `at most ${max}` : `less than ${max}`;
      allowed =
        issue.origin === "array"
          ? `${bound} item(s)`
          : issue.origin === "string"
            ? `${bound} character(s)`
            : bound;
      break;
    }
    case "unrecognized_keys": {
      const keys = allowedKeysAt(schema, path);
      const key = issue.keys[0] ?? "";
      path = [...path, key];
      found =
        issue.keys.length === 1
          ? `unknown key "${key}"`
          : `unknown keys ${issue.keys.map((k) => `"${k}"`).join(", ")}`;
      allowed = keys.length > 0 ? `the keys ${keys.join(", ")}` : "no other keys";
      break;
    }
    case "invalid_format":
      allowed = issue.format === "regex" ? issue.message : `a valid ${issue.format}`;
      break;
    default:
      allowed = issue.message;
  }
  const at = formatPath(path);
  return { path: at, found, allowed, message: `${at}: found ${found}; allowed: ${allowed}` };
}
