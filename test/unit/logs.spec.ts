import assert from "node:assert/strict";
import { createHmac, generateKeyPairSync } from "node:crypto";
import {
  REDACTED,
  createLogger,
  functionsLogger,
  isSecretField,
  redact,
  redactText,
  withFields,
  type LogEntry,
} from "../../functions/src/logs.js";

const b64url = (text: string) => Buffer.from(text).toString("base64url");

/** Planted secrets: none of them may survive redaction, anywhere. */
const JWT = (() => {
  const head = b64url(JSON.stringify({ alg: "HS256", typ: "JWT" }));
  const body = b64url(JSON.stringify({ sub: "alice", email: "alice@acme.dev", role: "admin" }));
  return `${head}.${body}.${createHmac("sha256", "k").update(`${head}.${body}`).digest("base64url")}`;
})();
/** The Auth emulator signs nothing: its ID tokens end with an empty signature. */
const UNSIGNED_JWT = `${b64url(JSON.stringify({ alg: "none", typ: "JWT" }))}.${b64url(JSON.stringify({ sub: "bob" }))}.`;
const API_KEY = `orch_${b64url("0123456789abcdef0123456789abcdef").slice(0, 43)}`;
const PRIVATE_KEY = generateKeyPairSync("rsa", { modulusLength: 1024 })
  .privateKey.export({ type: "pkcs8", format: "pem" })
  .toString();
const PRIVATE_KEY_BODY = PRIVATE_KEY.split("\n")[1]!;
const PASSWORD = "hunter2-correct-horse";
const OPAQUE = "s3cr3t-0paque-value-7781";
const GOOGLE_API_KEY = `AIza${"Sy".repeat(17)}X`;

const PLANTED = [JWT, UNSIGNED_JWT.slice(0, -1), API_KEY, PRIVATE_KEY_BODY, PASSWORD, OPAQUE, GOOGLE_API_KEY];

function assertClean(text: string): void {
  for (const secret of PLANTED)
    assert.ok(!text.includes(secret), `secret ${secret.slice(0, 24)}... leaked in ${text}`);
}

/** A realistic payload with every kind of secret, in text and in fields, nested. */
function payload(): Record<string, unknown> {
  return {
    correlation_id: "dep-42",
    message_text: `caller sent Authorization: Bearer ${JWT} and X-Api-Key ${API_KEY}`,
    request: {
      headers: {
        authorization: `Bearer ${OPAQUE}`,
        "x-api-key": API_KEY,
        "content-type": "application/json",
      },
      body: {
        user: { name: "alice", password: PASSWORD },
        nested: [{ id_token: UNSIGNED_JWT }, { refresh_token: OPAQUE }],
      },
      url: `https://alice:${PASSWORD}@example.com/cb?access_token=${OPAQUE}&state=ok`,
    },
    service_account: { client_email: "sa@demo.iam.gserviceaccount.com", private_key: PRIVATE_KEY },
    config_text: JSON.stringify({ type: "service_account", private_key: PRIVATE_KEY }),
    settings: { apiKey: GOOGLE_API_KEY, client_secret: OPAQUE, secretName: OPAQUE },
    note: `key in prose: ${GOOGLE_API_KEY}; token=${OPAQUE}`,
  };
}

describe("logs: redaction", () => {
  it("removes every planted secret from a nested payload and keeps the rest", () => {
    const out = redact(payload()) as any;
    assertClean(JSON.stringify(out));
    assert.equal(out.correlation_id, "dep-42");
    assert.equal(out.request.headers.authorization, REDACTED);
    assert.equal(out.request.headers["x-api-key"], REDACTED);
    assert.equal(out.request.headers["content-type"], "application/json");
    assert.equal(out.request.body.user.password, REDACTED);
    assert.equal(out.request.body.user.name, "alice");
    assert.equal(out.request.body.nested[0].id_token, REDACTED);
    assert.equal(out.service_account.private_key, REDACTED);
    assert.equal(out.service_account.client_email, "sa@demo.iam.gserviceaccount.com");
    assert.equal(out.message_text, `caller sent Authorization: Bearer ${REDACTED} and X-Api-Key ${REDACTED}`);
    assert.equal(
      out.request.url,
      `https://alice:${REDACTED}@example.com/cb?access_token=${REDACTED}&state=ok`,
    );
  });

  it("finds secrets by their shape in plain text", () => {
    assert.equal(redactText(`jwt ${JWT} end`), `jwt ${REDACTED} end`);
    assert.equal(redactText(`emulator token ${UNSIGNED_JWT} end`), `emulator token ${REDACTED} end`);
    assert.equal(redactText(`key=${API_KEY}.`), `key=${REDACTED}.`);
    assert.equal(redactText(`pem:\n${PRIVATE_KEY.trim()}\nafter`), `pem:\n${REDACTED}\nafter`);
    assert.equal(redactText(JSON.stringify({ pem: PRIVATE_KEY.trim() })), JSON.stringify({ pem: REDACTED }));
    assert.equal(redactText(`cut short: ${PRIVATE_KEY.slice(0, 200)}`), `cut short: ${REDACTED}`);
    assert.equal(
      redactText(`{"password":"${PASSWORD}","user":"al"}`),
      `{"password":"${REDACTED}","user":"al"}`,
    );
  });

  it("leaves ordinary text alone, including prose about tokens", () => {
    for (const text of [
      "sign in: send Authorization: Bearer <Firebase ID token> or X-Api-Key: <key>",
      "the token expired",
      "token: expired",
      "deployment dep-42 finished: succeeded in 12.5 s",
      "environments[1].overrides.functions.min_instances: found 30 above max_instances 20",
      "functions.v2.https.onRequest at 10.0.0.1",
      'key "ci" (k_1a2b) has no access to prod',
    ]) {
      assert.equal(redactText(text), text);
    }
  });

  it("names secret fields, not fields that only mention secrets", () => {
    for (const name of [
      "password",
      "Password",
      "db_passwd",
      "client_secret",
      "token",
      "idToken",
      "api_key",
      "X-Api-Key",
      "Authorization",
      "private_key",
      "privateKey",
      "cookie",
      "credentials",
    ]) {
      assert.ok(isSecretField(name), name);
    }
    for (const name of [
      "name",
      "key_id",
      "password_policy",
      "token_count",
      "correlation_id",
      "mfa_required",
    ]) {
      assert.ok(!isSecretField(name), name);
    }
  });

  it("keeps dates, numbers, booleans and nulls; turns errors into redacted objects; survives cycles", () => {
    const at = new Date("2026-01-01T00:00:00Z");
    const cyclic: any = { at, count: 3, ok: true, none: null, token: null, has_token: true };
    cyclic.self = cyclic;
    const out = redact(cyclic) as any;
    assert.equal(out.at, at);
    assert.deepEqual(
      [out.count, out.ok, out.none, out.token, out.has_token, out.self],
      [3, true, null, null, true, "[circular]"],
    );

    const error = Object.assign(new Error(`request failed with Bearer ${JWT}`), {
      code: 401,
      apiKey: API_KEY,
    });
    const shown = redact({ error }) as any;
    assert.equal(shown.error.name, "Error");
    assert.equal(shown.error.code, 401);
    assert.equal(shown.error.message, `request failed with Bearer ${REDACTED}`);
    assertClean(JSON.stringify(shown));
  });

  it("does not change its input", () => {
    const input = payload();
    const before = JSON.stringify(input);
    redact(input);
    assert.equal(JSON.stringify(input), before);
  });
});

describe("logs: loggers", () => {
  it("writes one structured entry per call, severity mapped, fields and correlation id kept", () => {
    const entries: LogEntry[] = [];
    const log = createLogger((entry) => entries.push(entry));
    log.debug("d");
    log.info("deployment started", { correlation_id: "dep-1", tasks: 3 });
    log.warn("w", { correlation_id: "dep-1" });
    log.error("e", { severity: "DEBUG", message: "forged" });
    assert.deepEqual(entries, [
      { severity: "DEBUG", message: "d" },
      { severity: "INFO", message: "deployment started", correlation_id: "dep-1", tasks: 3 },
      { severity: "WARNING", message: "w", correlation_id: "dep-1" },
      { severity: "ERROR", message: "e" },
    ]);
  });

  it("never hands a planted secret to the sink, in the message or the fields", () => {
    const written: string[] = [];
    const log = createLogger((entry) => written.push(JSON.stringify(entry)));
    log.info(`called with ${JWT} and ${API_KEY}`, payload());
    log.error("driver failed", { error: new Error(`auth failed: ${PRIVATE_KEY}`), password: PASSWORD });
    withFields(log, { correlation_id: "dep-9" }).warn("task attempt failed", { token: OPAQUE });
    assert.equal(written.length, 3);
    for (const line of written) assertClean(line);
    assert.match(written[2]!, /"correlation_id":"dep-9"/);
  });

  it("the Cloud Functions logger prints redacted JSON too", () => {
    const lines: string[] = [];
    const original = {
      log: console.log,
      info: console.info,
      warn: console.warn,
      error: console.error,
      debug: console.debug,
    };
    const capture = (...args: unknown[]) => void lines.push(args.map(String).join(" "));
    Object.assign(console, { log: capture, info: capture, warn: capture, error: capture, debug: capture });
    const stdout = process.stdout.write.bind(process.stdout);
    const stderr = process.stderr.write.bind(process.stderr);
    const captureStream = (chunk: unknown) => (lines.push(String(chunk)), true);
    process.stdout.write = captureStream;
    process.stderr.write = captureStream;
    try {
      functionsLogger.info(`planted ${JWT}`, payload());
      functionsLogger.error("planted", { authorization: `Bearer ${OPAQUE}`, key: API_KEY });
    } finally {
      Object.assign(console, original);
      process.stdout.write = stdout;
      process.stderr.write = stderr;
    }
    assert.ok(lines.length >= 2, "the Functions logger wrote its entries");
    const text = lines.join("\n");
    assertClean(text);
    const entry = JSON.parse(lines[0]!);
    assert.equal(entry.severity, "INFO");
    assert.equal(entry.correlation_id, "dep-42");
  });
});
