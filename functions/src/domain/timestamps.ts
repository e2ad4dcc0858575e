/**
 * Firestore hands back Timestamps; the domain speaks Dates. Shared by the Admin SDK store and the
 * dashboard's web SDK listeners, whose Timestamp classes differ: both have `toDate()`.
 */

/** A value Firestore hands back for a Timestamp (the Admin SDK's and the web SDK's both have `toDate`). */
export function isTimestamp(value: object): value is { toDate(): Date } {
  return typeof (value as { toDate?: unknown }).toDate === "function";
}

/** A copy of a document's data with every Timestamp, however deep, turned into a Date. */
export function timestampsToDates(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(timestampsToDates);
  if (typeof value !== "object" || value === null) return value;
  if (Object.getPrototypeOf(value) === Object.prototype)
    return Object.fromEntries(Object.entries(value).map(([key, inner]) => [key, timestampsToDates(inner)]));
  return isTimestamp(value) ? value.toDate() : value;
}
