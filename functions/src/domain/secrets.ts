/**
 * Secrets by reference only: a value that is a secret (by its field name or by its shape) may be
 * given only as a Secret Manager reference, `projects/<p>/secrets/<name>/versions/<v>`, and is
 * resolved when it is used, never stored. Pure: finding and scrubbing plain secrets.
 */
import { formatPath, type Problem } from "./problems.js";
import { isSecretField, redactText } from "./redaction.js";

/** A Secret Manager secret version: project id (or number), secret id, version number or `latest`. */
export const SECRET_REFERENCE =
  /^projects\/([a-z][a-z0-9-]{4,28}[a-z0-9]|[0-9]{1,20})\/secrets\/([A-Za-z0-9_-]{1,255})\/versions\/(latest|[1-9][0-9]{0,9})$/;

export const SECRET_REFERENCE_FORMAT = "projects/<project>/secrets/<name>/versions/<version or latest>";

/** What replaces a plain secret in a document that must be kept (a refused request). */
export const SCRUBBED = "[refused: a secret given in plain text]";

export function isSecretReference(value: unknown): value is string {
  return typeof value === "string" && SECRET_REFERENCE.test(value);
}

/** Why a string at a field is a plain secret, or null when it is not one. */
function plainSecret(key: string | number | undefined, value: string): "field name" | "shape" | null {
  if (value === "" || isSecretReference(value)) return null;
  if (typeof key === "string" && isSecretField(key)) return "field name";
  return redactText(value) === value ? null : "shape";
}

/** Every string under `value` that is a secret given in plain, with its path (never its value). */
function walk(
  value: unknown,
  path: (string | number)[],
  found: { path: (string | number)[]; why: "field name" | "shape" }[],
  depth: number,
): void {
  if (depth > 32) return;
  if (typeof value === "string") {
    const why = plainSecret(path.at(-1), value);
    if (why) found.push({ path, why });
  } else if (Array.isArray(value)) {
    value.forEach((item, index) => walk(item, [...path, index], found, depth + 1));
  } else if (typeof value === "object" && value !== null && !(value instanceof Date)) {
    for (const [key, inner] of Object.entries(value)) walk(inner, [...path, key], found, depth + 1);
  }
}

/**
 * The plain secrets in `value` (a config, a deployment's configuration), one problem each, naming
 * the field's path under `root` and what is allowed instead. The value itself is never repeated.
 */
export function plainSecretProblems(value: unknown, root: (string | number)[] = []): Problem[] {
  const found: { path: (string | number)[]; why: "field name" | "shape" }[] = [];
  walk(value, root, found, 0);
  return found.map(({ path, why }) => {
    const where = formatPath(path);
    const message = `${where}: found a secret in plain text (recognised by its ${why}); allowed: a Secret Manager reference ${SECRET_REFERENCE_FORMAT}, resolved when it is used`;
    return {
      path: where,
      found: `a plain secret (by its ${why})`,
      allowed: `a Secret Manager reference ${SECRET_REFERENCE_FORMAT}`,
      message,
    };
  });
}

/** A copy of `value` with every plain secret replaced by `SCRUBBED`; references and the rest kept. */
export function scrubPlainSecrets<T>(value: T): T {
  const scrub = (inner: unknown, key: string | number | undefined, depth: number): unknown => {
    if (typeof inner === "string") return plainSecret(key, inner) ? SCRUBBED : inner;
    if (depth > 32) return inner;
    if (Array.isArray(inner)) return inner.map((item, index) => scrub(item, index, depth + 1));
    if (typeof inner === "object" && inner !== null && !(inner instanceof Date))
      return Object.fromEntries(Object.entries(inner).map(([k, v]) => [k, scrub(v, k, depth + 1)]));
    return inner;
  };
  return scrub(value, undefined, 0) as T;
}
