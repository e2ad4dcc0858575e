/**
 * `doctor`: a read-only check that a live environment can be driven: the credentials give a
 * token, and they hold every permission the environment's live drivers need on its project
 * (Resource Manager `projects.testIamPermissions`, which itself needs no permission and changes
 * nothing). Each missing permission is named with the role that grants it and what it is for.
 */
import { z } from "zod";
import type { ResolvedEnvironment } from "../../domain/config-schema.js";
import { LIVE_SUPPORT, type LivePermission } from "../../domain/live-permissions.js";
import { callGoogle, resourceManagerApi, type GoogleAccess } from "./google.js";

/** One integration of the environment, as the doctor sees it. */
export const doctorIntegrationSchema = z.object({
  integration: z.string(),
  live_path: z.enum(["built", "not built"]),
  status: z.enum(["ready", "missing permissions", "not checked", "stays staged or refused"]),
  details: z.string(),
  missing: z.array(z.object({ permission: z.string(), role: z.string(), used_for: z.string() })),
});

/** The doctor's answer. */
export const doctorReportSchema = z.object({
  environment: z.string(),
  project_id: z.string(),
  mode: z.enum(["emulated", "live"]),
  ok: z.boolean(),
  credentials: z.object({ ok: z.boolean(), details: z.string() }),
  integrations: z.array(doctorIntegrationSchema),
  summary: z.string(),
});
export type DoctorReport = z.infer<typeof doctorReportSchema>;

/** The token the credentials give, whichever client kind they are. */
async function tokenOf(
  access: GoogleAccess,
): Promise<{ token: string | undefined; principal: string | undefined }> {
  const client = await access.auth();
  const answer: unknown = await client.getAccessToken();
  const token =
    typeof answer === "string" ? answer : ((answer as { token?: string | null } | null)?.token ?? undefined);
  let principal: string | undefined;
  if ("getCredentials" in client && typeof client.getCredentials === "function") {
    try {
      const credentials = (await client.getCredentials()) as { client_email?: string };
      principal = credentials.client_email;
    } catch {
      // Some credential kinds (a user's gcloud login) name no email: the token is what matters.
    }
  }
  return { token: token ?? undefined, principal };
}

/** Checks one environment; never writes anything. */
export async function runDoctor(
  environment: ResolvedEnvironment,
  access: GoogleAccess,
): Promise<DoctorReport> {
  const base = { environment: environment.name, project_id: environment.project_id, mode: environment.mode };
  const kinds = environment.integrations.map((i) => i.kind);
  if (environment.mode !== "live") {
    return {
      ...base,
      ok: true,
      credentials: {
        ok: true,
        details: "not needed: an emulated environment reaches only the local Emulator Suite",
      },
      integrations: [],
      summary: `${environment.name} is emulated: nothing to check against Google`,
    };
  }

  let credentials: DoctorReport["credentials"];
  try {
    const { token, principal } = await tokenOf(access);
    credentials = token
      ? {
          ok: true,
          details: `Application Default Credentials give a token${principal ? ` for ${principal}` : ""}`,
        }
      : { ok: false, details: "the credentials gave no access token" };
  } catch (error) {
    credentials = {
      ok: false,
      details: `no usable Application Default Credentials (${error instanceof Error ? error.message : String(error)}); on a laptop run \`gcloud auth application-default login\`, in CI use Workload Identity Federation, in the cloud the runtime service account`,
    };
  }

  const needed = new Map<string, LivePermission>();
  for (const kind of new Set(kinds)) {
    const support = LIVE_SUPPORT[kind];
    if (support.built) for (const p of support.permissions) needed.set(p.permission, p);
  }

  let granted: Set<string> | undefined;
  let grantDetails = "";
  if (credentials.ok && needed.size > 0) {
    const api = await resourceManagerApi(access);
    const answer = await callGoogle(
      access,
      `testing permissions on projects/${environment.project_id}`,
      "resourcemanager.projects.get",
      () =>
        api.projects.testIamPermissions({
          resource: `projects/${environment.project_id}`,
          requestBody: { permissions: [...needed.keys()].sort() },
        }),
      [403, 404],
    );
    if (answer.ok) granted = new Set(answer.data.permissions ?? []);
    else {
      granted = new Set();
      grantDetails = ` (Google answered ${answer.failure.status}: ${answer.failure.message}; the project id may be wrong or invisible to these credentials)`;
    }
  }

  const integrations = environment.integrations.map((declared): DoctorReport["integrations"][number] => {
    const support = LIVE_SUPPORT[declared.kind];
    if (!support.built)
      return {
        integration: declared.name,
        live_path: "not built",
        status: "stays staged or refused",
        details: support.reason,
        missing: [],
      };
    if (granted === undefined)
      return {
        integration: declared.name,
        live_path: "built",
        status: "not checked",
        details: "credentials did not work, so permissions could not be tested",
        missing: [],
      };
    const missing = support.permissions.filter((p) => !granted.has(p.permission));
    return {
      integration: declared.name,
      live_path: "built",
      status: missing.length === 0 ? "ready" : "missing permissions",
      details:
        missing.length === 0
          ? `${support.api}: all ${support.permissions.length} permissions held`
          : `${support.api}: missing ${missing.map((m) => `${m.permission} (${m.role})`).join(", ")}${grantDetails}`,
      missing,
    };
  });
  const lacking = integrations.filter((i) => i.status === "missing permissions");
  const ok = credentials.ok && lacking.length === 0 && integrations.every((i) => i.status !== "not checked");
  const staged = integrations.filter((i) => i.live_path === "not built").map((i) => i.integration);
  return {
    ...base,
    ok,
    credentials,
    integrations,
    summary: !credentials.ok
      ? `credentials do not work: ${credentials.details}`
      : `${integrations.length - lacking.length - staged.length} live integration(s) ready, ${lacking.length} missing permissions` +
        (staged.length > 0 ? `; without a live path yet: ${staged.join(", ")}` : ""),
  };
}

/** The report as lines a person reads: one line per integration, each missing permission on its own line. */
export function formatDoctor(report: DoctorReport): string {
  const lines = [
    `doctor: ${report.environment} (project ${report.project_id}, ${report.mode})`,
    `  credentials: ${report.credentials.ok ? "ok" : "NOT OK"}: ${report.credentials.details}`,
  ];
  for (const entry of report.integrations) {
    lines.push(
      `  ${entry.integration.padEnd(Math.max(11, ...report.integrations.map((i) => i.integration.length + 1)))}${entry.status}: ${entry.details}`,
    );
    for (const missing of entry.missing)
      lines.push(`      missing ${missing.permission} (grant ${missing.role}; for ${missing.used_for})`);
  }
  lines.push(`  ${report.ok ? "READY" : "NOT READY"}: ${report.summary}`);
  return lines.join("\n");
}
