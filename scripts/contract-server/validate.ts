import type { ContractRules, DiscoveryDocument, DiscoveryMethod, DiscoverySchema } from "./discovery.js";

/** One way a request breaks the contract: the field (dotted path, as Google's BadRequest names it) and why. */
export type Violation = { field: string; description: string };

/** How the client asked enums to be encoded (`$alt=json;enum-encoding=int` lets them be numbers). */
export type ValidationOptions = { numericEnums: boolean };

const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === "object" && value !== null && !Array.isArray(value);

const join = (path: string, key: string): string => (path === "" ? key : `${path}.${key}`);

/** snake_case to lowerCamelCase, the proto3 JSON name mapping (field masks may name either). */
export const camel = (name: string): string =>
  name.replace(/_([a-z0-9])/g, (_m, c: string) => c.toUpperCase());

const RFC3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$/;
const DURATION = /^-?\d+(\.\d{1,9})?s$/;
const BASE64 = /^[A-Za-z0-9+/_-]*={0,2}$/;
const INT_RANGES: Record<string, [bigint, bigint]> = {
  int32: [-(2n ** 31n), 2n ** 31n - 1n],
  uint32: [0n, 2n ** 32n - 1n],
  int64: [-(2n ** 63n), 2n ** 63n - 1n],
  uint64: [0n, 2n ** 64n - 1n],
};

/** Resolves `$ref` chains against the document's schemas. */
export function resolve(document: DiscoveryDocument, schema: DiscoverySchema): DiscoverySchema {
  let current = schema;
  for (let hops = 0; current.$ref !== undefined; hops += 1) {
    const target = document.schemas[current.$ref];
    if (target === undefined || hops > 32)
      throw new Error(`discovery document has no schema ${current.$ref}`);
    current = target;
  }
  return current;
}

/** Checks one scalar string against a discovery type and format (query and path values arrive as text). */
export function checkText(
  field: string,
  schema: DiscoverySchema,
  text: string,
  options: ValidationOptions,
): Violation[] {
  switch (schema.type) {
    case "integer": {
      if (!/^-?\d+$/.test(text)) return [{ field, description: `expected an integer, found "${text}"` }];
      return checkIntegerRange(field, schema, BigInt(text));
    }
    case "number":
      return Number.isNaN(Number(text)) ? [{ field, description: `expected a number, found "${text}"` }] : [];
    case "boolean":
      return text === "true" || text === "false"
        ? []
        : [{ field, description: `expected true or false, found "${text}"` }];
    default:
      return checkString(field, schema, text, options);
  }
}

function checkIntegerRange(field: string, schema: DiscoverySchema, value: bigint): Violation[] {
  const range = INT_RANGES[schema.format ?? "int32"];
  if (range && (value < range[0] || value > range[1])) {
    return [{ field, description: `${value} is out of range for ${schema.format ?? "int32"}` }];
  }
  return [];
}

function checkString(
  field: string,
  schema: DiscoverySchema,
  text: string,
  options: ValidationOptions,
): Violation[] {
  if (schema.enum && !schema.enum.includes(text)) {
    const numeric = options.numericEnums && /^\d+$/.test(text) && Number(text) < schema.enum.length;
    if (!numeric) return [{ field, description: `"${text}" is not one of ${schema.enum.join(", ")}` }];
  }
  switch (schema.format) {
    case "google-datetime":
    case "date-time":
      return RFC3339.test(text) && !Number.isNaN(Date.parse(text))
        ? []
        : [{ field, description: `expected an RFC 3339 timestamp, found "${text}"` }];
    case "google-duration":
      return DURATION.test(text)
        ? []
        : [{ field, description: `expected a duration like "30s", found "${text}"` }];
    case "byte":
      return BASE64.test(text) ? [] : [{ field, description: "expected base64-encoded bytes" }];
    case "int64":
    case "uint64":
      return /^-?\d+$/.test(text)
        ? checkIntegerRange(field, schema, BigInt(text))
        : [{ field, description: `expected a ${schema.format} as a decimal string, found "${text}"` }];
    default:
      return [];
  }
}

/**
 * Checks a JSON value against a discovery schema: types, formats, enums, unknown fields (refused)
 * and fields whose description begins "Required." (the discovery format's only way to say so).
 */
export function checkValue(
  document: DiscoveryDocument,
  field: string,
  declared: DiscoverySchema,
  value: unknown,
  options: ValidationOptions,
): Violation[] {
  const schema = resolve(document, declared);
  if (value === null) return [];
  switch (schema.type) {
    case "any":
      return [];
    case "string":
      if (typeof value !== "string") {
        if (schema.enum && options.numericEnums && typeof value === "number" && Number.isInteger(value)) {
          return checkString(field, schema, String(value), options);
        }
        return [{ field, description: `expected a string, found ${describe(value)}` }];
      }
      return checkString(field, schema, value, options);
    case "integer":
      if (typeof value === "number" && Number.isInteger(value))
        return checkIntegerRange(field, schema, BigInt(value));
      // proto3 JSON lets any integer arrive as a decimal string
      if (typeof value === "string" && /^-?\d+$/.test(value))
        return checkIntegerRange(field, schema, BigInt(value));
      return [{ field, description: `expected an integer, found ${describe(value)}` }];
    case "number":
      if (typeof value === "number") return [];
      if (typeof value === "string" && ["NaN", "Infinity", "-Infinity"].includes(value)) return [];
      return [{ field, description: `expected a number, found ${describe(value)}` }];
    case "boolean":
      return typeof value === "boolean"
        ? []
        : [{ field, description: `expected a boolean, found ${describe(value)}` }];
    case "array":
      if (!Array.isArray(value))
        return [{ field, description: `expected an array, found ${describe(value)}` }];
      return value.flatMap((item, index) =>
        schema.items ? checkValue(document, `${field}[${index}]`, schema.items, item, options) : [],
      );
    case "object":
    case undefined:
      return checkObject(document, field, schema, value, options);
    default:
      return [
        {
          field,
          description: `the discovery document uses type ${schema.type}, which the server cannot check`,
        },
      ];
  }
}

function checkObject(
  document: DiscoveryDocument,
  field: string,
  schema: DiscoverySchema,
  value: unknown,
  options: ValidationOptions,
): Violation[] {
  if (!isObject(value)) return [{ field, description: `expected an object, found ${describe(value)}` }];
  const out: Violation[] = [];
  const properties = schema.properties ?? {};
  for (const [key, item] of Object.entries(value)) {
    const property = properties[key];
    if (property) out.push(...checkValue(document, join(field, key), property, item, options));
    else if (schema.additionalProperties) {
      out.push(...checkValue(document, join(field, key), schema.additionalProperties, item, options));
    } else {
      out.push({
        field: join(field, key),
        description: `unknown field "${key}" (${schema.id ?? "object"} has no such field)`,
      });
    }
  }
  for (const [key, property] of Object.entries(properties)) {
    const required = property.required === true || /^Required\./.test(property.description ?? "");
    if (required && value[key] === undefined) {
      out.push({ field: join(field, key), description: `required field "${key}" is missing` });
    }
  }
  return out;
}

function describe(value: unknown): string {
  if (Array.isArray(value)) return "an array";
  if (value === null) return "null";
  return typeof value === "string" ? `the string "${value}"` : `${typeof value} ${JSON.stringify(value)}`;
}

/** Reads a dotted field path out of a JSON value. */
export function pick(value: unknown, path: string): unknown {
  let current = value;
  for (const key of path.split(".")) {
    if (!isObject(current)) return undefined;
    current = current[key];
  }
  return current;
}

/** Checks a request body against the method's rules file (conditionally required fields, oneof groups). */
export function checkRules(rules: ContractRules, method: DiscoveryMethod, body: unknown): Violation[] {
  const out: Violation[] = [];
  for (const [path, source] of Object.entries(rules.requiredFields[method.id] ?? {})) {
    if (pick(body, path) === undefined)
      out.push({ field: path, description: `required field "${path}" is missing (${source})` });
  }
  for (const group of rules.oneOf[method.id] ?? []) {
    const present = group.fields.filter((name) => pick(body, name) !== undefined);
    if (present.length !== 1) {
      out.push({
        field: present.length === 0 ? group.fields.join("|") : present.join("|"),
        description: `exactly one of ${group.fields.join(", ")} must be set, found ${present.length === 0 ? "none" : present.join(", ")} (${group.source})`,
      });
    }
  }
  return out;
}

/** Checks each path of a field mask names a field of the schema (either the JSON or the proto name). */
export function checkFieldMask(
  document: DiscoveryDocument,
  field: string,
  mask: string,
  schema: DiscoverySchema | undefined,
): Violation[] {
  if (schema === undefined) return [];
  const out: Violation[] = [];
  for (const path of mask.split(",").filter((p) => p !== "")) {
    let current: DiscoverySchema | undefined = resolve(document, schema);
    for (const segment of path.split(".")) {
      const next: DiscoverySchema | undefined = current?.properties?.[camel(segment)];
      if (next === undefined) {
        out.push({ field, description: `"${path}" names no field of ${schema.$ref ?? "the request"}` });
        break;
      }
      current = resolve(document, next);
    }
  }
  return out;
}
