/**
 * The compliance report (a fifth report type): roles and last actions, production changes with
 * requester and approver, the audit chain's verification, findings; and every document format
 * renders it. Expected rows are written here from the fixtures.
 */
import assert from "node:assert/strict";
import { complianceSection, type ComplianceInput } from "../../functions/src/domain/compliance.js";
import { buildReport } from "../../functions/src/domain/reports.js";
import { renderReportDocument } from "../../functions/src/visual/report-documents.js";
import { at, deployment, history, NOW } from "../support/history-builder.js";

const approved = {
  ...deployment("prod-approved", "succeeded", { env: "prod", created: 100 }),
  requested_by: "user:olivia@acme.dev",
  approval: {
    requested_at: at(100),
    expires_at: at(90_000),
    decision: "approved" as const,
    decided_by: "user:ada@acme.dev",
    decided_at: at(160),
    note: null,
  },
};
const unapproved = {
  ...deployment("prod-alone", "failed", { env: "prod", created: 50 }),
  requested_by: "key:k_ci",
};
const rejected = {
  ...deployment("prod-rejected", "cancelled", { env: "prod", created: 200 }),
  requested_by: "user:olivia@acme.dev",
  approval: { ...approved.approval, decision: "rejected" as const, note: "not today" },
};
const devChange = deployment("dev-1", "succeeded", { env: "dev", created: 10 });

const input = (verification: ComplianceInput["verification"]): ComplianceInput => ({
  people: [
    {
      principal: "user:olivia@acme.dev",
      kind: "user",
      role: "operator",
      environments: null,
      active: true,
      label: null,
    },
    {
      principal: "user:ada@acme.dev",
      kind: "user",
      role: "admin",
      environments: null,
      active: true,
      label: null,
    },
    {
      principal: "user:idle@acme.dev",
      kind: "user",
      role: "admin",
      environments: null,
      active: true,
      label: null,
    },
    {
      principal: "key:k_ci",
      kind: "key",
      role: "operator",
      environments: ["prod"],
      active: false,
      label: "ci",
    },
  ],
  audit: [
    {
      actor: { kind: "user", id: "olivia@acme.dev", role: "operator" },
      action: "POST /deploy",
      at: at(100),
      outcome: "ok",
    },
    {
      actor: { kind: "user", id: "ada@acme.dev", role: "admin" },
      action: "POST /deployments/{id}/approve",
      at: at(160),
      outcome: "ok",
    },
    {
      actor: { kind: "user", id: "olivia@acme.dev", role: "operator" },
      action: "POST /deploy",
      at: at(200),
      outcome: "ok",
    },
    {
      actor: { kind: "key", id: "k_ci", role: "operator" },
      action: "POST /deploy",
      at: at(50),
      outcome: "ok",
    },
    {
      actor: { kind: "system", id: null, role: null },
      action: "deployment.running->succeeded",
      at: at(300),
      outcome: "ok",
    },
  ],
  production: ["prod"],
  deployments: [rejected, approved, unapproved, devChange],
  verification,
});

describe("compliance report", () => {
  it("lists role holders with their last action, production changes with requester and approver", () => {
    const section = complianceSection(input({ ok: true, count: 5 }));
    assert.deepEqual(
      section.people.map((p) => [p.principal, p.role, p.last_action, p.last_action_at]),
      [
        ["key:k_ci", "operator", "POST /deploy", at(50).toISOString()],
        ["user:ada@acme.dev", "admin", "POST /deployments/{id}/approve", at(160).toISOString()],
        ["user:idle@acme.dev", "admin", null, null],
        ["user:olivia@acme.dev", "operator", "POST /deploy", at(200).toISOString()],
      ],
    );
    assert.deepEqual(
      section.production_changes.map((c) => [
        c.deployment_id,
        c.requested_by,
        c.approval,
        c.approved_by,
        c.four_eyes,
      ]),
      [
        ["prod-rejected", "user:olivia@acme.dev", "rejected", null, false],
        ["prod-approved", "user:olivia@acme.dev", "approved", "user:ada@acme.dev", true],
        ["prod-alone", "key:k_ci", "not required", null, false],
      ],
    );
    assert.deepEqual(section.audit_chain, { verified: true, records: 5, first_problem: null });
    assert.deepEqual(section.findings, [
      "1 production change(s) ran without a second person's approval: prod-alone",
      "user:idle@acme.dev holds admin and has no recorded action",
    ]);
  });

  it("names the audit chain's first problem when it does not verify", () => {
    const section = complianceSection(
      input({ ok: false, seq: 3, problem: "changed", message: "record #3 was changed" }),
    );
    assert.equal(section.audit_chain.verified, false);
    assert.deepEqual(section.audit_chain.first_problem, {
      seq: 3,
      problem: "changed",
      message: "record #3 was changed",
    });
    assert.ok(section.findings.includes("the audit chain does not verify: record #3 was changed"));
  });

  it("is the fifth report type, and renders as HTML, Markdown, CSV and PDF", async () => {
    const report = buildReport(
      history([rejected, approved, unapproved, devChange], []),
      { report_type: "compliance", time_range: "30d", format: "json" },
      NOW,
      input({ ok: true, count: 5 }),
    );
    assert.equal(report.comprehensive_report.report_type, "compliance");
    assert.equal(report.comprehensive_report.compliance?.production_changes.length, 3);
    assert.match(report.comprehensive_report.headline?.[1] ?? "", /^audit chain verified: 5 record\(s\)$/);
    const html = await renderReportDocument(report, "html");
    assert.match(String(html.data), /Compliance report/);
    assert.match(String(html.data), /user:ada@acme\.dev/);
    const csv = String((await renderReportDocument(report, "csv")).data);
    assert.match(csv, /^compliance.production_changes,prod,approved_by,user:ada@acme\.dev\r$/m);
    const pdf = await renderReportDocument(report, "pdf");
    assert.equal(Buffer.from(pdf.data).subarray(0, 5).toString(), "%PDF-");
    assert.throws(
      () =>
        buildReport(history([], []), { report_type: "compliance", time_range: "30d", format: "json" }, NOW),
      /needs its people/,
    );
  });
});
