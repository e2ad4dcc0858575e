/**
 * Alerts that notify, and secrets that never land (issue 18), on the Firestore emulator (and the
 * API function for the requests): an incident opens only after `alert_after_checks` unhealthy
 * checks in a row; each alert change reaches a local webhook receiver (a node http server here)
 * once however many checks report it, and the email channel gets one Trigger Email `mail`
 * document; deliveries over the hourly limit are recorded, not sent. The webhook's URL is a Secret
 * Manager reference resolved from the local file store at send time; a canary sweep then finds
 * none of the planted secret values in any Firestore document, log entry or API answer.
 */
import assert from "node:assert/strict";
import { probingFabricator } from "../support/probes.js";
import { randomBytes } from "node:crypto";
import { createServer, type Server } from "node:http";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import type { Bus } from "../../functions/src/bus.js";
import { validateConfig } from "../../functions/src/domain/config.js";
import { createEnvironmentResolver } from "../../functions/src/engine/environments.js";
import { createHealthMonitor } from "../../functions/src/engine/health.js";
import { createNotifier, MAIL, NOTIFICATIONS } from "../../functions/src/engine/notifier.js";
import { createLogger, type LogEntry } from "../../functions/src/logs.js";
import { createFileSecretStore } from "../../functions/src/store/secret-store.js";
import { createStore } from "../../functions/src/store/store.js";
import { typedCollection } from "../../functions/src/store/typed-collection.js";
import { alertDocSchema } from "../../functions/src/domain/model.js";
import { configWith } from "../support/config-builder.js";
import { adminDb, api, clearFirestore, requireEmulators, waitFor } from "../support/emulators.js";

/** Every string value in every document of every collection (and subcollection) of the emulator's Firestore. */
async function everyFirestoreText(): Promise<string> {
  const texts: string[] = [];
  const walk = async (collections: FirebaseFirestore.CollectionReference[]) => {
    for (const collection of collections) {
      for (const doc of (await collection.get()).docs) {
        texts.push(doc.ref.path, JSON.stringify(doc.data()));
        await walk(await doc.ref.listCollections());
      }
    }
  };
  await walk(await adminDb().listCollections());
  return texts.join("\n");
}

describe("alert notifications and secrets by reference", function () {
  this.timeout(180_000);
  let observed: "healthy" | "degraded" | "down" = "healthy";
  const received: { path: string; body: Record<string, unknown> }[] = [];
  const logs: LogEntry[] = [];
  let server: Server;
  let secretsDir: string;
  /** The planted secret: the path of the webhook URL, as a Slack URL's path is its credential. */
  const canary = `canary-${randomBytes(12).toString("hex")}`;
  let reference = "";

  const store = () => createStore(adminDb());
  function monitor() {
    const environments = createEnvironmentResolver(store());
    const log = createLogger((entry) => logs.push(entry));
    const clock = { now: () => new Date() };
    // Security answers what the test says; the other integration (monitoring) stays healthy.
    const fabricator = probingFabricator((target: { integration: string }) => {
      const status = target.integration === "security" ? observed : "healthy";
      return Promise.resolve({ status, latency_ms: 3, details: `observed ${status}`, mode: "emulated" });
    });
    const bus = { publishEvent: () => Promise.resolve() } as unknown as Bus; // the monitor publishes events only
    const notifier = createNotifier({
      db: adminDb(),
      environments,
      secrets: createFileSecretStore(path.join(secretsDir, "secrets.json")),
      clock,
      log,
    });
    return {
      health: createHealthMonitor({ store: store(), environments, fabricator, bus, clock, log, notifier }),
      notifier,
    };
  }

  async function deliveries() {
    const snap = await adminDb().collection(NOTIFICATIONS).orderBy("created_at").get();
    return snap.docs.map((doc) => doc.data());
  }

  before(async function () {
    requireEmulators(this);
    await clearFirestore();
    server = createServer((request, response) => {
      let body = "";
      request.on("data", (chunk: Buffer) => (body += chunk.toString("utf8")));
      request.on("end", () => {
        received.push({ path: request.url ?? "", body: JSON.parse(body) as Record<string, unknown> });
        response.writeHead(200).end("ok");
      });
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const port = (server.address() as { port: number }).port;
    secretsDir = mkdtempSync(path.join(tmpdir(), "orch-secrets-"));
    reference = await createFileSecretStore(path.join(secretsDir, "secrets.json")).addVersion(
      "projects/demo-acme-solo/secrets/ops-webhook",
      `http://127.0.0.1:${port}/hook/${canary}`,
    );
    const raw = configWith((c) => {
      c.base.notifications = {
        channels: {
          "ops-hook": { type: "webhook", url: reference },
          "oncall-mail": { type: "email", to: ["oncall@acme.dev"] },
        },
        max_per_hour: 3,
      };
      c.environments = [
        {
          name: "solo",
          type: "development",
          project_id: "demo-acme-solo",
          mode: "emulated",
          integrations: ["security", "monitoring"],
          overrides: {
            monitoring: {
              notification_channels: ["ops-hook", "oncall-mail", "ghost"],
              alert_after_checks: 3,
            },
          },
        },
      ];
    });
    const result = validateConfig(raw);
    assert.ok(result.ok, JSON.stringify(!result.ok && result.problems));
    await store().loadConfig(result.config, raw, new Date());
  });

  after(() => {
    server?.close();
    if (secretsDir) rmSync(secretsDir, { recursive: true, force: true });
  });

  it("one bad check is not an incident; the third in a row opens one, notified once per channel", async () => {
    observed = "down";
    await monitor().health.check();
    await monitor().health.check();
    // This suite's environment only: another suite's deployment may still be ending as this one starts.
    const alertsOfSolo = () => adminDb().collection("alerts").where("environment", "==", "solo").get();
    const early = await alertsOfSolo();
    assert.equal(early.size, 0, "two unhealthy checks open nothing");
    assert.equal(received.length, 0);

    await monitor().health.check();
    const alerts = await alertsOfSolo();
    assert.equal(alerts.size, 1);
    // Its change again, from five checks at once and two duplicate reports: still one delivery each.
    await Promise.all(Array.from({ length: 5 }, () => monitor().health.check()));
    const alert = alerts.docs[0];
    assert.ok(alert);
    const doc = (await typedCollection(adminDb(), "alerts", alertDocSchema).doc(alert.id).get()).data();
    assert.ok(doc);
    await Promise.all([1, 2].map(() => monitor().notifier.notify(alert.id, doc, "opened")));
    assert.equal(received.length, 1, JSON.stringify(received));
    assert.equal(received[0]?.path, `/hook/${canary}`, "the URL came from the secret store");
    assert.equal(received[0]?.body.change, "opened");
    assert.equal(received[0]?.body.level, "critical");
    assert.equal(received[0]?.body.environment, "solo");
    assert.match(String(received[0]?.body.text), /^\[critical\] opened: security in solo is down/);

    const mail = await adminDb().collection(MAIL).get();
    assert.equal(mail.size, 1);
    assert.deepEqual(mail.docs[0]?.get("to"), ["oncall@acme.dev"]);
    assert.match(String(mail.docs[0]?.get("message.subject")), /^\[critical\] solo: alert opened$/);

    const byChannel = Object.fromEntries((await deliveries()).map((d) => [d.channel, d]));
    assert.equal(byChannel["ops-hook"]?.status, "sent");
    assert.equal(byChannel["ops-hook"]?.http_status, 200);
    assert.equal(byChannel["oncall-mail"]?.status, "queued");
    assert.equal(byChannel.ghost?.status, "skipped");
    assert.match(String(byChannel.ghost?.detail), /"ghost" is not defined in base\.notifications\.channels/);
  });

  it("recovery notifies once; past the hourly limit deliveries are recorded as rate limited, not sent", async () => {
    observed = "healthy";
    await monitor().health.check();
    await waitFor("the resolved notice", () => Promise.resolve(received.length === 2));
    assert.equal(received[1]?.body.change, "resolved");

    // A second incident: its opening is the webhook's third delivery this hour (the limit), its recovery the fourth.
    observed = "degraded";
    for (let check = 0; check < 3; check += 1) await monitor().health.check();
    observed = "healthy";
    await monitor().health.check();
    assert.deepEqual(
      received.map((r) => r.body.change),
      ["opened", "resolved", "opened"],
    );
    const hook = (await deliveries()).filter((d) => d.channel === "ops-hook");
    assert.deepEqual(
      hook.map((d) => d.status),
      ["sent", "sent", "sent", "rate_limited"],
    );
    assert.match(String(hook[3]?.detail), /made 3 deliveries in the last hour/);
  });

  it("canary: a planted secret is refused in requests and config, and appears nowhere in Firestore, logs or answers", async () => {
    const planted = `canary-${randomBytes(12).toString("hex")}`;
    const answers: string[] = [];
    const deploy = await api("POST", "/deploy", {
      environment: "solo",
      integrations: ["security"],
      configuration: { driver: "simulated", database: { password: planted } },
    });
    answers.push(JSON.stringify(deploy.body));
    assert.equal(deploy.status, 400);
    assert.match(
      deploy.body.error.message,
      /configuration\.database\.password: found a secret in plain text/,
    );

    const hookUrl = `https://hooks.slack.com/services/T000/B000/${planted}`;
    const config = await api(
      "POST",
      "/config",
      configWith((c) => {
        c.base.notifications = { channels: { slack: { type: "webhook", url: hookUrl } } };
      }),
    );
    answers.push(JSON.stringify(config.body));
    assert.equal(config.status, 400);
    assert.ok(
      (config.body.error.problems as { path: string }[]).some(
        (p) => p.path === "base.notifications.channels.slack.url",
      ),
      JSON.stringify(config.body),
    );

    // Written straight to Firestore (as the Admin SDK may): the engine refuses it and keeps no copy.
    const written = adminDb().collection("deployments").doc(`canary-${Date.now()}`);
    await written.set({
      status: "requested",
      environment: "solo",
      integrations: ["security"],
      configuration: { driver: "simulated", api_token: planted },
      requested_by: "system:canary",
    });
    const rejected = await waitFor("the engine to refuse the request", async () => {
      const data = (await written.get()).data();
      return data?.status === "failed" ? data : undefined;
    });
    assert.match(String(rejected.error_message), /configuration\.api_token: found a secret in plain text/);
    const shown = await api("GET", `/deployments/${written.id}`);
    answers.push(JSON.stringify(shown.body));
    const sweep = await api("POST", "/jobs/sweep", undefined); // chains the audit records
    answers.push(JSON.stringify(sweep.body));

    const firestore = await everyFirestoreText();
    for (const secret of [planted, canary]) {
      assert.ok(!firestore.includes(secret), "a planted secret was found in Firestore");
      assert.ok(
        !answers.some((answer) => answer.includes(secret)),
        "a planted secret was found in an API answer",
      );
      assert.ok(!JSON.stringify(logs).includes(secret), "a planted secret was found in a log entry");
    }
    // The sweep looked where it should: the requests and deliveries are there, only the secrets are not.
    assert.ok(firestore.includes("configuration.api_token: found a secret in plain text"));
    assert.ok(firestore.includes(reference), "the reference is kept, never its value");
  });
});
