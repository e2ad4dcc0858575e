import { createHash } from "node:crypto";

/** The one content digest the control plane records (artifacts, rules, export files): sha256, hex. */
export function sha256(data: string | Uint8Array): string {
  return createHash("sha256").update(data).digest("hex");
}

/** A JSON value with object keys sorted at every level, so equal values always serialise alike. */
export function sortedKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortedKeys);
  if (typeof value === "object" && value !== null) {
    return Object.fromEntries(
      Object.keys(value)
        .sort()
        .map((key) => [key, sortedKeys((value as Record<string, unknown>)[key])]),
    );
  }
  return value;
}

/** A stable digest of a JSON value: equal values, equal digests, whatever the key order. */
export function contentHash(value: unknown): string {
  return sha256(JSON.stringify(sortedKeys(value) ?? null));
}

/** JSON with object keys sorted at every level, indented, as staged files are written. */
export function stableJson(value: unknown): string {
  return `${JSON.stringify(sortedKeys(value), null, 2)}\n`;
}
