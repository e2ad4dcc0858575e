/**
 * What a secret looks like, by field name and by shape: the one definition that log redaction
 * (logs.ts) and the refusal of plain secrets in configs and requests (secrets.ts) share. Pure.
 */

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
  // Slack incoming-webhook URLs: the path is the credential.
  [/https:\/\/hooks\.slack\.com\/(?:services|workflows|triggers)\/[A-Za-z0-9/_-]+/g, REDACTED],
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
