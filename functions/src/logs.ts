/**
 * Structured JSON logs carrying the correlation id that follows a deployment through every trigger,
 * and the redaction every log entry, audit detail and error message goes through: secrets and
 * tokens never leave the process in clear.
 */
import { logger } from "firebase-functions";

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

/** What replaces a secret. */
export const REDACTED = "[redacted]";

/**
 * Field names whose values are secret whatever they look like, compared lower-cased with `-` and
 * `_` removed: `password`, `client_secret`, `id_token`, `X-Api-Key`, `Authorization`,
 * `private_key`, `cookie`, `credentials`...
 */
const SECRET_FIELD =
  /pass(word|wd|phrase)|secret|token|apikey|authorization|privatekey|cookie|credential|signature/;

/** Names that mention a secret without holding one: `password_policy`, `token_count`, `mfa_secret_required`. */
const NOT_SECRET_FIELD = /polic(y|ies)|count$|length$|required$|enabled$|expires(at)?$|ttl$/;

/** Whether a field of this name holds a secret. */
export function isSecretField(name: string): boolean {
  const normalized = name.toLowerCase().replace(/[-_\s]/g, "");
  return SECRET_FIELD.test(normalized) && !NOT_SECRET_FIELD.test(normalized);
}

const B64URL = "[A-Za-z0-9_-]";

/** Secrets recognised by their shape, anywhere in a string. Order matters: whole blocks first. */
const SECRET_PATTERNS: readonly [RegExp, string | ((match: string, ...groups: string[]) => string)][] = [
  // PEM private keys (Google service-account keys and others), also JSON-escaped or cut short.
  [
    /-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY-----[\s\S]*?(?:-----END (?:[A-Z0-9]+ )*PRIVATE KEY-----|$)/g,
    REDACTED,
  ],
  // Bearer credentials (token68 syntax, at least 8 characters: "Bearer <Firebase ID token>" is prose).
  [
    /\b(Bearer)(\s+)[A-Za-z0-9._~+/=-]{8,}/gi,
    (_m, scheme: string, space: string) => `${scheme}${space}${REDACTED}`,
  ],
  // JWTs, signed or not (the Auth emulator's tokens have an empty signature): base64url JSON header.
  [new RegExp(`\\beyJ${B64URL}*\\.${B64URL}+\\.${B64URL}*`, "g"), REDACTED],
  // Any other three long base64url segments joined by dots (opaque signed tokens).
  [new RegExp(`\\b${B64URL}{20,}\\.${B64URL}{20,}\\.${B64URL}{20,}`, "g"), REDACTED],
  // The control plane's API keys: orch_ + 43 base64url characters (shorter tails are redacted too).
  [new RegExp(`(?<![A-Za-z0-9])orch_${B64URL}{16,}`, "g"), REDACTED],
  // Google API keys and OAuth access tokens.
  [new RegExp(`\\bAIza${B64URL}{30,}`, "g"), REDACTED],
  [new RegExp(`\\bya29\\.${B64URL}+`, "g"), REDACTED],
  // Credentials in URLs: scheme://user:password@host.
  [/\b([a-z][a-z0-9+.-]*:\/\/[^\s/:@]+:)[^\s/@]+@/gi, (_m, prefix: string) => `${prefix}${REDACTED}@`],
  // name=value and "name": "value" where the name is a secret field's (query strings, JSON in text).
  [
    /([A-Za-z0-9_-]*(?:pass(?:word|wd)|secret|token|api[_-]?key|authorization|private[_-]?key|cookie|credentials?)[A-Za-z0-9_-]*)("?\s*[=:]\s*"?)([^\s"&,;}]+)/gi,
    (match: string, name: string, separator: string, value: string) =>
      value === REDACTED || !(separator.includes("=") || separator.includes('"'))
        ? match
        : `${name}${separator}${REDACTED}`,
  ],
];

/** Replaces every secret recognisable by its shape in a string. */
export function redactText(text: string): string {
  let out = text;
  for (const [pattern, replacement] of SECRET_PATTERNS) {
    out =
      typeof replacement === "string" ? out.replace(pattern, replacement) : out.replace(pattern, replacement);
  }
  return out;
}

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
