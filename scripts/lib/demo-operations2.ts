/**
 * The demo's second operations step (issue 18): staging's exact artifacts promoted to prod, which
 * waits for a second person's approval, with the hashes compared afterwards; an alert rule held
 * for its duration that reaches a local webhook once; and the compliance report naming who asked
 * and who approved. One outcome line each through `say`; details go to the log.
 */
import { startWebhookReceiver } from "./demo-webhook.js";

type Role = "viewer" | "operator" | "admin";
type Call = (
  method: string,
  path: string,
  body?: unknown,
  role?: Role,
) => Promise<{ status: number; body: Record<string, unknown> }>;

interface PlanEntry {
  integration: string;
  source: { release: number; artifact_sha256: string };
  target: { release: number | null; artifact_sha256: string | null };
  target_overrides: { path: string; source: unknown; target: unknown }[];
}
interface PromotionPlan {
  promotable: boolean;
  refusals: string[];
  integrations: PlanEntry[];
}
interface ConfigShape {
  base: Record<string, unknown>;
  environments: { name: string; overrides?: Record<string, Record<string, unknown>> }[];
}

const short = (digest: string | null) => (digest ?? "none").slice(0, 12);
const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Polls a deployment until `done` holds (or 180 s pass); answers its last status. */
async function watch(call: Call, id: string, done: (status: string) => boolean): Promise<string> {
  const deadline = Date.now() + 180_000;
  let status = "unknown";
  while (Date.now() < deadline) {
    const view = (await call("GET", `/deployments/${id}`)).body.deployment as { status: string } | undefined;
    status = view?.status ?? status;
    if (done(status)) return status;
    await pause(300);
  }
  return status;
}

async function plan(call: Call, from: string, to: string): Promise<PromotionPlan | undefined> {
  const answer = await call("POST", "/promote/plan", { from, to });
  return answer.body.promotion_plan as PromotionPlan | undefined;
}

/** Runs the step; true when the promotion's hashes matched, the rule notified once and the report verified. */
export async function demoOperations2(
  call: Call,
  heading: (text: string) => void,
  say: (line: string) => void,
): Promise<boolean> {
  heading(
    "Promote staging's exact artifacts to prod (approved by a second person); an alert rule fires once",
  );
  const original = (await call("GET", "/config")).body.config_data as ConfigShape | undefined;
  if (!original) {
    say("GET /config answered no config");
    return false;
  }
  const receiver = await startWebhookReceiver("ops-rules");
  const { heard, url: hookUrl } = receiver;
  const strict = structuredClone(original);
  strict.base.access = {
    ...(strict.base.access as Record<string, unknown> | undefined),
    production_requires_approval: true,
  };
  strict.base.notifications = {
    channels: { "ops-hook": { type: "webhook", url: hookUrl } },
    max_per_hour: 30,
  };
  for (const env of strict.environments.filter((candidate) => candidate.name === "staging")) {
    // A latency rule every probe breaches, held 2 s: the first check opens nothing, a later one does.
    env.overrides = {
      ...env.overrides,
      monitoring: {
        ...env.overrides?.monitoring,
        latency_ms_warning: 1,
        latency_ms_critical: 600_000,
        alert_for_seconds: 2,
        notification_channels: ["ops-hook"],
      },
    };
  }
  try {
    const loaded = await call("POST", "/config", strict);
    console.log(
      `POST /config (prod needs approval; staging's latency rule 1 ms for 2 s, to ops-hook) -> ${loaded.status}`,
    );

    // 1. The promotion plan, the promotion, the approval, the hashes compared.
    const before = await plan(call, "staging", "prod");
    for (const entry of before?.integrations ?? [])
      console.log(
        `  plan ${entry.integration}: staging release ${entry.source.release} artifact ${short(entry.source.artifact_sha256)}, prod now ${short(entry.target.artifact_sha256)}; prod keeps ${entry.target_overrides.map((o) => o.path).join(", ") || "nothing of its own"}`,
      );
    if (!before?.promotable) console.log(`  refused: ${before?.refusals.join("; ") ?? "no plan"}`);
    const promoted = await call("POST", "/promote", { from: "staging", to: "prod" }, "operator");
    const id = String(promoted.body.deployment_id);
    console.log(`operator: POST /promote {staging -> prod} -> ${promoted.status} ${id}`);
    const waiting = await watch(call, id, (status) => status !== "requested");
    const approved = await call("POST", `/deployments/${id}/approve`, undefined, "admin");
    console.log(`  ${waiting}; admin: POST /deployments/${id}/approve -> ${approved.status}`);
    const ended = await watch(call, id, (status) =>
      ["succeeded", "failed", "rolled_back", "cancelled"].includes(status),
    );
    const after = await plan(call, "staging", "prod");
    const matching = (after?.integrations ?? []).filter(
      (entry) => entry.target.artifact_sha256 === entry.source.artifact_sha256,
    );
    for (const entry of after?.integrations ?? [])
      console.log(
        `  ${entry.integration}: staging ${short(entry.source.artifact_sha256)} prod ${short(entry.target.artifact_sha256)}`,
      );
    const promotionOk =
      promoted.status === 202 &&
      waiting === "awaiting_approval" &&
      approved.status === 200 &&
      ended === "succeeded" &&
      matching.length > 0 &&
      matching.length === after?.integrations.length;
    say(
      `promotion staging -> prod: ${waiting}, approved by a second person, ${ended}; artifact hashes match for ${matching.length} of ${after?.integrations.length ?? 0} integrations (${matching.map((e) => `${e.integration} ${short(e.target.artifact_sha256)}`).join(", ")})`,
    );

    // 2. The alert rule: installed with staging's monitoring, held for its duration, notified once.
    const rules = await call("POST", "/deploy", { environment: "staging", integrations: ["monitoring"] });
    const installed = await watch(call, String(rules.body.deployment_id), (status) =>
      ["succeeded", "failed", "rolled_back", "cancelled"].includes(status),
    );
    console.log(`staging's monitoring (alert rules) deployed: ${installed}`);
    // The channel also hears deployment outcomes (the monitoring deployment's): count the rule's notices.
    const ruleNotices = () => heard.filter((notice) => /rule latency-/.test(notice.text ?? ""));
    await call("POST", "/jobs/health?environment=staging");
    const afterFirst = ruleNotices().length;
    await pause(2_500);
    await call("POST", "/jobs/health?environment=staging");
    await call("POST", "/jobs/health?environment=staging");
    const deadline = Date.now() + 15_000;
    while (ruleNotices().length === 0 && Date.now() < deadline) await pause(200);
    console.log(`webhook ${hookUrl}: ${heard.map((h) => h.text).join(" | ")}`);
    const fired = ruleNotices();
    const ruleOk = afterFirst === 0 && fired.length === 1;
    say(
      `alert rule: nothing after the first slow check, then ${fired.length} webhook notice: ${(fired[0]?.text ?? "none").slice(0, 80)}`,
    );

    // 3. The compliance report: who asked, who approved, the chain.
    await call("POST", "/jobs/sweep");
    const report = await call("GET", "/reports?report_type=compliance&time_range=24h");
    const compliance = (
      report.body.comprehensive_report as
        | {
            compliance?: {
              production_changes: {
                deployment_id: string;
                requested_by: string;
                approved_by: string | null;
              }[];
              audit_chain: { verified: boolean; records: number | null };
            };
          }
        | undefined
    )?.compliance;
    const change = compliance?.production_changes.find((entry) => entry.deployment_id === id);
    say(
      `compliance report: ${compliance?.production_changes.length ?? 0} production change(s); the promotion requested by ${change?.requested_by ?? "?"}, approved by ${change?.approved_by ?? "?"}; audit chain ${compliance?.audit_chain.verified ? `verified (${compliance.audit_chain.records} records)` : "NOT verified"}`,
    );
    return promotionOk && ruleOk && change?.approved_by !== null && compliance?.audit_chain.verified === true;
  } finally {
    await call("POST", "/config", original);
    // staging's alert rules back to the config's thresholds.
    const restored = await call("POST", "/deploy", { environment: "staging", integrations: ["monitoring"] });
    if (restored.status === 202)
      await watch(call, String(restored.body.deployment_id), (status) =>
        ["succeeded", "failed", "rolled_back", "cancelled"].includes(status),
      );
    receiver.close();
  }
}
