/**
 * The risk register: each risk with its inherent likelihood and impact (1 to 5), the planned
 * choices that raise or lower its likelihood, and the mitigation. The planner scores every risk
 * for the chosen architecture of each production environment.
 */

/** A condition on the chosen architecture, read from the planned settings of one environment. */
export type RiskCondition =
  | {
      readonly feature:
        | "firestore_multi_region"
        | "pitr"
        | "min_instances"
        | "mfa_required"
        | "app_check_enforced"
        | "change_approval"
        | "analytics_export"
        | "residency_constrained"
        | "alerting";
      readonly is: boolean;
    }
  | { readonly feature: "backup_interval_minutes"; readonly at_most: number };

/** One entry of the register. */
export interface RiskEntry {
  readonly id: string;
  readonly risk: string;
  readonly likelihood: number;
  readonly impact: number;
  /** Each modifier adds `likelihood` (negative lowers it) when its condition holds. */
  readonly modifiers: readonly {
    readonly when: RiskCondition;
    readonly likelihood: number;
    readonly why: string;
  }[];
  readonly mitigation: string;
}

/** The register the planner scores. */
export const RISK_REGISTER: readonly RiskEntry[] = [
  {
    id: "regional-outage",
    risk: "A regional outage makes the database unavailable",
    likelihood: 2,
    impact: 5,
    modifiers: [
      {
        when: { feature: "firestore_multi_region", is: true },
        likelihood: -1,
        why: "multi-region Firestore survives a region",
      },
    ],
    mitigation: "Multi-region Firestore location (eur3, nam5); status page and client retry with back-off",
  },
  {
    id: "data-loss",
    risk: "Data is lost or corrupted by a faulty release or an operator error",
    likelihood: 3,
    impact: 5,
    modifiers: [
      {
        when: { feature: "pitr", is: true },
        likelihood: -2,
        why: "point-in-time recovery restores any minute of the last 7 days",
      },
      {
        when: { feature: "backup_interval_minutes", at_most: 360 },
        likelihood: -1,
        why: "exports at least every 6 hours",
      },
      {
        when: { feature: "change_approval", is: true },
        likelihood: -1,
        why: "production changes need an approval",
      },
    ],
    mitigation:
      "Point-in-time recovery, frequent managed exports (restores verified by the backup driver), approvals on production changes",
  },
  {
    id: "cold-start",
    risk: "Cold starts add seconds of latency during traffic spikes",
    likelihood: 3,
    impact: 2,
    modifiers: [
      { when: { feature: "min_instances", is: true }, likelihood: -2, why: "a warm minimum instance" },
    ],
    mitigation: "Keep at least one minimum instance warm in production",
  },
  {
    id: "cost-overrun",
    risk: "Abuse or a traffic spike overruns the budget",
    likelihood: 3,
    impact: 3,
    modifiers: [
      {
        when: { feature: "app_check_enforced", is: true },
        likelihood: -1,
        why: "App Check rejects calls not from the app",
      },
      { when: { feature: "alerting", is: true }, likelihood: -1, why: "alerts reach a person" },
    ],
    mitigation: "App Check enforcement, budget alerts and max_instances caps (planned from the goals)",
  },
  {
    id: "unauthorized-access",
    risk: "Data is read or written by someone who should not (rules or token misuse)",
    likelihood: 3,
    impact: 5,
    modifiers: [
      { when: { feature: "app_check_enforced", is: true }, likelihood: -1, why: "App Check enforcement" },
      { when: { feature: "mfa_required", is: true }, likelihood: -1, why: "multi-factor sign-in" },
    ],
    mitigation: "Rules that forbid open writes (always planned), App Check enforcement, MFA for users",
  },
  {
    id: "unreviewed-change",
    risk: "An unreviewed change reaches production",
    likelihood: 3,
    impact: 4,
    modifiers: [
      {
        when: { feature: "change_approval", is: true },
        likelihood: -2,
        why: "promotion to production needs an approval",
      },
    ],
    mitigation: "Required approval on the production CI/CD promotion",
  },
  {
    id: "slow-detection",
    risk: "An incident goes unnoticed until users report it",
    likelihood: 3,
    impact: 4,
    modifiers: [
      {
        when: { feature: "alerting", is: true },
        likelihood: -2,
        why: "alert rules with a notification channel",
      },
    ],
    mitigation: "Probes every minute or faster with critical alerts sent to a notification channel",
  },
  {
    id: "residency-breach",
    risk: "Personal data is stored outside the region users were promised",
    likelihood: 3,
    impact: 4,
    modifiers: [
      {
        when: { feature: "residency_constrained", is: true },
        likelihood: -2,
        why: "every data location is inside the residency geography",
      },
    ],
    mitigation: "Set constraints.data_residency so that the planner only chooses locations inside it",
  },
  {
    id: "no-audit-trail",
    risk: "No event trail to investigate an incident or answer an auditor",
    likelihood: 3,
    impact: 3,
    modifiers: [
      { when: { feature: "analytics_export", is: true }, likelihood: -2, why: "events exported to BigQuery" },
    ],
    mitigation: "Export events to BigQuery with a retention that matches the audit period",
  },
];
