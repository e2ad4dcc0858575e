import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { z } from "zod";

/** A JSON Schema as a Google discovery document writes it (the subset the contract server reads). */
export type DiscoverySchema = {
  $ref?: string | undefined;
  id?: string | undefined;
  type?: string | undefined;
  format?: string | undefined;
  description?: string | undefined;
  enum?: string[] | undefined;
  pattern?: string | undefined;
  required?: boolean | undefined;
  readOnly?: boolean | undefined;
  repeated?: boolean | undefined;
  location?: string | undefined;
  items?: DiscoverySchema | undefined;
  properties?: Record<string, DiscoverySchema> | undefined;
  additionalProperties?: DiscoverySchema | undefined;
};

/** The zod schema of one discovery JSON Schema (recursive, extra keys kept). */
export const discoverySchemaSchema: z.ZodType<DiscoverySchema> = z.lazy(() =>
  z.looseObject({
    $ref: z.string().optional(),
    id: z.string().optional(),
    type: z.string().optional(),
    format: z.string().optional(),
    description: z.string().optional(),
    enum: z.array(z.string()).optional(),
    pattern: z.string().optional(),
    required: z.boolean().optional(),
    readOnly: z.boolean().optional(),
    repeated: z.boolean().optional(),
    location: z.string().optional(),
    items: discoverySchemaSchema.optional(),
    properties: z.record(z.string(), discoverySchemaSchema).optional(),
    additionalProperties: discoverySchemaSchema.optional(),
  }),
);

const methodSchema = z.looseObject({
  id: z.string(),
  path: z.string(),
  flatPath: z.string().optional(),
  httpMethod: z.string(),
  parameters: z.record(z.string(), discoverySchemaSchema).default({}),
  parameterOrder: z.array(z.string()).default([]),
  request: z.object({ $ref: z.string() }).optional(),
  response: z.object({ $ref: z.string() }).optional(),
});

/** One method of a discovery document. */
export type DiscoveryMethod = z.infer<typeof methodSchema>;

type Resource = { methods?: Record<string, DiscoveryMethod>; resources?: Record<string, Resource> };
const resourceSchema: z.ZodType<Resource> = z.lazy(() =>
  z.looseObject({
    methods: z.record(z.string(), methodSchema).optional(),
    resources: z.record(z.string(), resourceSchema).optional(),
  }),
);

/** The zod schema of a discovery document (`discovery#restDescription`), the parts the server uses. */
export const discoveryDocumentSchema = z.looseObject({
  kind: z.literal("discovery#restDescription"),
  id: z.string(),
  name: z.string(),
  version: z.string(),
  revision: z.string().optional(),
  rootUrl: z.string(),
  servicePath: z.string().default(""),
  parameters: z.record(z.string(), discoverySchemaSchema).default({}),
  schemas: z.record(z.string(), discoverySchemaSchema).default({}),
  resources: z.record(z.string(), resourceSchema).default({}),
});

/** A parsed discovery document. */
export type DiscoveryDocument = z.infer<typeof discoveryDocumentSchema>;

const ruleSchema = z.object({
  requiredFields: z.record(z.string(), z.record(z.string(), z.string())).default({}),
  oneOf: z
    .record(z.string(), z.array(z.object({ fields: z.array(z.string()).min(2), source: z.string() })))
    .default({}),
});

/** Contract rules the discovery format cannot express, each citing the API documentation it comes from. */
export type ContractRules = z.infer<typeof ruleSchema>;

/** The repository's `contracts/discovery` folder. */
export const discoveryFolder = join(
  dirname(fileURLToPath(import.meta.url)),
  "..",
  "..",
  "contracts",
  "discovery",
);

/** Loads `contracts/discovery/<api>-<version>.json` (and its `.rules.json` when present). */
export function loadDiscovery(apiVersion: string): { document: DiscoveryDocument; rules: ContractRules } {
  const document = discoveryDocumentSchema.parse(
    JSON.parse(readFileSync(join(discoveryFolder, `${apiVersion}.json`), "utf8")),
  );
  let rules: ContractRules = { requiredFields: {}, oneOf: {} };
  try {
    rules = ruleSchema.parse(
      JSON.parse(readFileSync(join(discoveryFolder, `${apiVersion}.rules.json`), "utf8")),
    );
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
  }
  return { document, rules };
}

/** Every method of a document, depth first. */
export function allMethods(document: DiscoveryDocument): DiscoveryMethod[] {
  const out: DiscoveryMethod[] = [];
  const walk = (resource: Resource): void => {
    for (const method of Object.values(resource.methods ?? {})) out.push(method);
    for (const child of Object.values(resource.resources ?? {})) walk(child);
  };
  for (const resource of Object.values(document.resources)) walk(resource);
  return out;
}

/** A compiled URL template of one method: a regular expression and the parameter each group binds. */
export type CompiledTemplate = {
  method: DiscoveryMethod;
  regex: RegExp;
  names: string[];
  reserved: boolean[];
  literalLength: number;
};

const escapeRegex = (text: string): string => text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

/**
 * Compiles a URI template (RFC 6570 level 2, as discovery uses it): `{+name}` is a reserved
 * expansion that may span slashes, `{name}` one path segment.
 */
export function compileTemplate(
  method: DiscoveryMethod,
  servicePath: string,
  template: string,
): CompiledTemplate {
  const names: string[] = [];
  const reserved: boolean[] = [];
  let literalLength = 0;
  let source = "";
  const parts = `/${servicePath}${template}`.split(/(\{\+?[^}]+\})/);
  for (const part of parts) {
    const variable = /^\{(\+?)([^}]+)\}$/.exec(part);
    if (variable) {
      names.push(variable[2] ?? "");
      reserved.push(variable[1] === "+");
      source += variable[1] === "+" ? "(.+?)" : "([^/]+?)";
    } else {
      literalLength += part.length;
      source += escapeRegex(part);
    }
  }
  return { method, regex: new RegExp(`^${source}$`), names, reserved, literalLength };
}
