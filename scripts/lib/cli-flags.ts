/**
 * Command-line flags from a route's zod schemas: one flag per property of its query or body
 * object, typed by the property's JSON Schema (the same one the OpenAPI document publishes), and
 * the reverse, flag values back into the query or body the schema validates.
 */
import { readFileSync } from "node:fs";
import { z } from "zod";
import { CliError, EXIT } from "./cli-exit.js";

/**
 * How a flag's text becomes the field's value:
 * - `string`: as typed; `number`: a JSON number (query fields stay text, as URLs carry them);
 * - `boolean`: present or not; `list`: repeatable and comma separated, an array of strings;
 * - `json`: a JSON value, inline or the path of a file holding it.
 */
export type FlagKind = "string" | "number" | "boolean" | "list" | "json";

export interface FieldFlag {
  /** The flag without its dashes, e.g. `time-range`. */
  flag: string;
  /** The schema property it fills, e.g. `time_range`; `$body` is a whole body that is not an object. */
  field: string;
  in: "query" | "body";
  kind: FlagKind;
  required: boolean;
  /** The allowed values of an enum (for a list: of its items). */
  choices?: readonly string[];
  description?: string;
  default?: unknown;
}

/** The field a non-object body is given as: the whole body, from one JSON flag. */
export const WHOLE_BODY = "$body";

interface JsonSchemaNode {
  type?: string | string[];
  enum?: unknown[];
  items?: JsonSchemaNode;
  anyOf?: JsonSchemaNode[];
  description?: string;
  default?: unknown;
  properties?: Record<string, JsonSchemaNode>;
  required?: string[];
}

/** The branch of `X | null` that is not null (nullable fields are given as their value). */
function withoutNull(node: JsonSchemaNode): JsonSchemaNode {
  const branches = node.anyOf?.filter((branch) => branch.type !== "null");
  return branches?.length === 1 && branches[0] ? { ...branches[0], ...pick(node) } : node;
}

function pick(node: JsonSchemaNode): JsonSchemaNode {
  return {
    ...(node.description !== undefined && { description: node.description }),
    ...(node.default !== undefined && { default: node.default }),
  };
}

function kindOf(node: JsonSchemaNode, place: "query" | "body"): FlagKind {
  const type = Array.isArray(node.type) ? node.type.find((t) => t !== "null") : node.type;
  if (type === "boolean") return "boolean";
  if (type === "number" || type === "integer") return place === "query" ? "string" : "number";
  if (type === "string") return "string";
  if (type === "array" && (node.items?.type === "string" || node.items?.enum)) return "list";
  return "json";
}

const stringChoices = (values: unknown[] | undefined) =>
  values?.every((value): value is string => typeof value === "string") ? values : undefined;

/** The property name as a flag: `time_range` → `time-range`. */
export const flagName = (field: string) => field.replace(/_/g, "-");

/** The flags of one schema (a route's query or body); `names` renames fields to other flags. */
export function flagsOf(
  schema: z.ZodType | undefined,
  place: "query" | "body",
  names: Readonly<Record<string, string>> = {},
): FieldFlag[] {
  if (!schema) return [];
  if (!(schema instanceof z.ZodObject)) {
    return [
      {
        flag: names[WHOLE_BODY] ?? "body",
        field: WHOLE_BODY,
        in: place,
        kind: "json",
        required: false,
        description: "the whole body as JSON, or the path of a JSON file",
      },
    ];
  }
  const json = z.toJSONSchema(schema, { io: "input", unrepresentable: "any" }) as JsonSchemaNode;
  const required = new Set(json.required ?? []);
  return Object.entries(json.properties ?? {}).map(([field, raw]) => {
    const node = withoutNull(raw);
    const kind = kindOf(node, place);
    const choices = stringChoices(kind === "list" ? node.items?.enum : node.enum);
    return {
      flag: names[field] ?? flagName(field),
      field,
      in: place,
      kind,
      // A field with a default is filled by the API when the flag is left out.
      required: required.has(field) && node.default === undefined,
      ...(choices && { choices }),
      ...(node.description !== undefined && { description: node.description }),
      ...(node.default !== undefined && { default: node.default }),
    };
  });
}

/** parseArgs' option for a flag. */
export function parseArgsOption(kind: FlagKind): { type: "string" | "boolean"; multiple?: boolean } {
  if (kind === "boolean") return { type: "boolean" };
  if (kind === "list") return { type: "string", multiple: true };
  return { type: "string" };
}

const usage = (message: string) => new CliError(EXIT.usage, message);

/** Inline JSON, or the path of a file holding it (`{`, `[` and `"` start JSON; anything else is a file). */
export function readJsonFlag(flag: string, text: string): unknown {
  const inline = /^\s*[[{"]/.test(text) || ["true", "false", "null"].includes(text.trim());
  let source = text;
  if (!inline) {
    try {
      source = readFileSync(text, "utf8");
    } catch (error) {
      throw usage(`--${flag} ${text}: neither JSON nor a readable file (${(error as Error).message})`);
    }
  }
  try {
    return JSON.parse(source) as unknown;
  } catch (error) {
    throw usage(`--${flag} is not JSON${inline ? "" : ` (${text})`}: ${(error as Error).message}`);
  }
}

/** `["a,b", "c"]` → `["a", "b", "c"]`: repeated and comma-separated values, flattened. */
export function listValue(values: readonly string[]): string[] {
  return values
    .flatMap((value) => value.split(","))
    .map((value) => value.trim())
    .filter((value) => value.length > 0);
}

/** A flag's parsed text as the field's value, or undefined when the flag was not given. */
export function fieldValue(spec: FieldFlag, given: unknown): unknown {
  if (given === undefined) return undefined;
  switch (spec.kind) {
    case "boolean":
      return given === true;
    case "list":
      return listValue(given as string[]);
    case "json":
      return readJsonFlag(spec.flag, given as string);
    case "number": {
      const text = given as string;
      const number = Number(text);
      // Not a number: sent as typed, so the schema's check names the field and what it allows.
      return text.trim() !== "" && Number.isFinite(number) ? number : text;
    }
    default:
      return given;
  }
}
