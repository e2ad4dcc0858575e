/**
 * The demo's operations step (issue 18): with `production_requires_approval` on, a production
 * deployment waits for a second person; its requester is refused, another person approves, and it
 * runs; its outcome reaches a webhook (a local receiver standing in for Slack) through prod's
 * notification channel, and the delivery is recorded.
 */
import { startWebhookReceiver } from "./demo-webhook.js";

type Role = "viewer" | "operator" | "admin";
type Call = (
  method: string,
  path: string,
  body?: unknown,
  role?: Role,
) => Promise<{ status: number; body: Record<string, unknown> }>;

interface DeploymentView {
  status: string;
  error_message: string | null;
  approval: { expires_at: string; decided_by: string | null; decision: string | null } | null;
}

const errorOf = (body: Record<string, unknown>) =>
  (body.error as { message?: string } | undefined)?.message ?? JSON.stringify(body).slice(0, 200);

/** Polls a deployment until `done` says so (or 60 s pass); answers its last view. */
async function watch(
  call: Call,
  id: string,
  done: (view: DeploymentView) => boolean,
): Promise<DeploymentView | undefined> {
  const deadline = Date.now() + 60_000;
  let view: DeploymentView | undefined;
  while (Date.now() < deadline) {
    view = (await call("GET", `/deployments/${id}`)).body.deployment as DeploymentView | undefined;
    if (view && done(view)) return view;
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  return view;
}

interface ConfigShape {
  base: Record<string, unknown>;
  environments: { name: string; overrides?: Record<string, Record<string, unknown>> }[];
}

/** Runs the step; true when the requester was refused, the approved deployment succeeded and the webhook heard of it. */
export async function demoOps(call: Call, heading: (text: string) => void): Promise<boolean> {
  heading("Four eyes on production: a deployment waits until a second person approves it");
  const current = await call("GET", "/config");
  const original = current.body.config_data as ConfigShape | undefined;
  if (!original) {
    console.log(`GET /config -> ${current.status} ${errorOf(current.body)}`);
    return false;
  }
  const receiver = await startWebhookReceiver("ops-channel");
  const { heard, url: hookUrl } = receiver;
  const strict = structuredClone(original);
  strict.base.access = {
    ...(strict.base.access as Record<string, unknown> | undefined),
    production_requires_approval: true,
    approval_ttl_hours: 24,
  };
  strict.base.notifications = {
    channels: { "ops-hook": { type: "webhook", url: hookUrl } },
    max_per_hour: 30,
  };
  for (const env of strict.environments.filter((candidate) => candidate.name === "prod")) {
    env.overrides = {
      ...env.overrides,
      monitoring: { ...env.overrides?.monitoring, notification_channels: ["ops-hook"] },
    };
  }
  const loaded = await call("POST", "/config", strict);
  console.log(
    `POST /config with base.access.production_requires_approval and an "ops-hook" webhook channel for prod -> ${loaded.status}`,
  );
  try {
    const requested = await call(
      "POST",
      "/deploy",
      { environment: "prod", integrations: ["auth", "firestore"], configuration: { driver: "simulated" } },
      "operator",
    );
    const id = String(requested.body.deployment_id);
    console.log(`operator: POST /deploy {prod} -> ${requested.status} ${id}`);
    const waiting = await watch(call, id, (view) => view.status !== "requested");
    console.log(
      `  status ${waiting?.status ?? "?"}, the request expires at ${waiting?.approval?.expires_at ?? "?"}`,
    );
    const own = await call("POST", `/deployments/${id}/approve`, undefined, "operator");
    console.log(`operator (the requester): POST /deployments/${id}/approve -> ${own.status}`);
    console.log(`  ${errorOf(own.body)}`);
    const viewer = await call("POST", `/deployments/${id}/approve`, undefined, "viewer");
    console.log(`viewer: POST /deployments/${id}/approve -> ${viewer.status}`);
    const approved = await call("POST", `/deployments/${id}/approve`, undefined, "admin");
    const decided = approved.body.deployment as DeploymentView | undefined;
    console.log(
      `admin: POST /deployments/${id}/approve -> ${approved.status}, ${decided?.status ?? "?"} by ${decided?.approval?.decided_by ?? "?"}`,
    );
    const again = await call("POST", `/deployments/${id}/approve`, undefined, "admin");
    console.log(`admin again: -> ${again.status} (${errorOf(again.body)})`);
    const ended = await watch(call, id, (view) =>
      ["succeeded", "failed", "rolled_back", "cancelled"].includes(view.status),
    );
    console.log(`  the deployment ran after the approval: ${ended?.status ?? "still running"}`);
    const deadline = Date.now() + 15_000;
    while (heard.length === 0 && Date.now() < deadline)
      await new Promise((resolve) => setTimeout(resolve, 200));
    console.log(
      `webhook ${hookUrl} received ${heard.length} notice(s): ${heard.map((h) => h.text).join(" | ")}`,
    );
    return (
      heard.length === 1 &&
      waiting?.status === "awaiting_approval" &&
      own.status === 403 &&
      viewer.status === 403 &&
      approved.status === 200 &&
      again.status === 409 &&
      ended?.status === "succeeded"
    );
  } finally {
    await call("POST", "/config", original);
    receiver.close();
  }
}
