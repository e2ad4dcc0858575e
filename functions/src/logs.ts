/**
 * Structured JSON logs carrying the correlation id that follows a deployment through every trigger,
 * and the redaction every log entry, audit detail and error message goes through: secrets and
 * tokens never leave the process in clear.
 */
import { logger } from "firebase-functions";
import { REDACTED, isSecretField, redactText } from "./domain/redaction.js";

type Fields = Record<string, unknown> & { correlation_id?: string };

export interface Logger {
  debug(message: string, fields?: Fields): void;
  info(message: string, fields?: Fields): void;
  warn(message: string, fields?: Fields): void;
  error(message: string, fields?: Fields): void;
}

/** What a logger hands its sink: one structured entry (Cloud Logging's `severity` and `message`, then the fields). */
export interface LogEntry {
  severity: "DEBUG" | "INFO" | "WARNING" | "ERROR";
  message: string;
  [field: string]: unknown;
}

export { REDACTED, isSecretField, redactText };

const MAX_DEPTH = 12;

function redactValue(value: unknown, seen: WeakSet<object>, depth: number): unknown {
  if (typeof value === "string") return redactText(value);
  if (typeof value !== "object" || value === null) return value;
  if (value instanceof Date) return value;
  if (seen.has(value)) return "[circular]";
  if (depth >= MAX_DEPTH) return "[too deep]";
  seen.add(value);
  try {
    if (ArrayBuffer.isView(value) || value instanceof ArrayBuffer)
      return `[binary, ${value.byteLength} bytes]`;
    if (Array.isArray(value)) return value.map((item) => redactValue(item, seen, depth + 1));
    if (value instanceof Map)
      return redactEntries(
        [...value.entries()].map(([k, v]) => [String(k), v]),
        seen,
        depth,
      );
    if (value instanceof Set) return [...value].map((item) => redactValue(item, seen, depth + 1));
    if (value instanceof Error) {
      // Own enumerable fields (code, status...) and the non-enumerable name, message and stack.
      const fields: [string, unknown][] = [
        ["name", value.name],
        ["message", value.message],
        ...(value.stack === undefined ? [] : ([["stack", value.stack]] as [string, unknown][])),
        ...Object.entries(value),
      ];
      if (value.cause !== undefined) fields.push(["cause", value.cause]);
      return redactEntries(fields, seen, depth);
    }
    const toJSON = (value as { toJSON?: unknown }).toJSON;
    if (typeof toJSON === "function") return redactValue(toJSON.call(value), seen, depth + 1);
    return redactEntries(Object.entries(value), seen, depth);
  } finally {
    seen.delete(value);
  }
}

function redactEntries(
  entries: [string, unknown][],
  seen: WeakSet<object>,
  depth: number,
): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, inner] of entries) {
    out[key] =
      isSecretField(key) &&
      inner !== null &&
      inner !== undefined &&
      inner !== "" &&
      typeof inner !== "boolean"
        ? REDACTED
        : redactValue(inner, seen, depth + 1);
  }
  return out;
}

/**
 * A copy of `value` with every secret replaced by "[redacted]": in strings (JWTs, Bearer
 * credentials, `orch_` API keys, PEM private keys, Google API keys, URL passwords, `token=...`),
 * and the whole value of any field named like a secret (password, secret, token, api_key,
 * authorization, private_key, cookie, credentials), at any depth. Errors become plain objects
 * (name, message, stack, own fields, cause), Dates stay Dates, cycles become "[circular]".
 */
export function redact(value: unknown): unknown {
  return redactValue(value, new WeakSet(), 0);
}

/** A logger writing one redacted structured entry per call to `write`. */
export function createLogger(write: (entry: LogEntry) => void): Logger {
  const emit = (severity: LogEntry["severity"], message: string, fields?: Fields) => {
    const clean = fields === undefined ? {} : (redact(fields) as Record<string, unknown>);
    // The entry's own keys win: a field named "severity" or "message" must not forge them.
    write({ ...clean, severity, message: redactText(message) });
  };
  return {
    debug: (message, fields) => emit("DEBUG", message, fields),
    info: (message, fields) => emit("INFO", message, fields),
    warn: (message, fields) => emit("WARNING", message, fields),
    error: (message, fields) => emit("ERROR", message, fields),
  };
}

/** A logger that adds `fields` (a correlation id, a task id) to every entry of `log`. */
export function withFields(log: Logger, fields: Fields): Logger {
  return {
    debug: (message, more) => log.debug(message, { ...fields, ...more }),
    info: (message, more) => log.info(message, { ...fields, ...more }),
    warn: (message, more) => log.warn(message, { ...fields, ...more }),
    error: (message, more) => log.error(message, { ...fields, ...more }),
  };
}

/** The Cloud Functions logger: one JSON entry per call, severity mapped by Cloud Logging. */
export const functionsLogger: Logger = createLogger((entry) => logger.write(entry));
