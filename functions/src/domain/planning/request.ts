/** The request of goal-oriented planning (`POST /plan` with goals and constraints), as zod schemas. */
import { z } from "zod";

/** Environments the planner can plan, in deployment order. */
export const PLANNED_ENVIRONMENTS = ["dev", "staging", "prod"] as const;
/** One planned environment. */
export type PlannedEnvironment = (typeof PLANNED_ENVIRONMENTS)[number];
/** Compliance frameworks the planner knows the controls of. */
export const COMPLIANCE_FRAMEWORKS = ["gdpr", "soc2", "hipaa"] as const;
/** Geographies data may be kept in. */
export const GEOGRAPHIES = ["eu", "us", "asia"] as const;
/** One geography. */
export type Geography = (typeof GEOGRAPHIES)[number];

const load = (max: number) => z.number().min(0).max(max);

/** Business goals: the load to serve and the service levels to meet. Absent loads are zero; absent targets are not required. */
export const planningGoalsSchema = z.strictObject({
  monthly_active_users: z.int().min(0).max(1_000_000_000).optional(),
  reads_per_day: load(1e12).optional(),
  writes_per_day: load(1e12).optional(),
  storage_gib: load(1e6).optional(),
  function_invocations_per_day: load(1e12).optional(),
  hosting_egress_gib_per_month: load(1e7).optional(),
  availability: z.number().min(0.9).max(0.999999, { error: "at most 0.999999" }).optional(),
  rpo_minutes: z.number().min(1).max(525_600).optional(),
  rto_minutes: z.number().min(1).max(525_600).optional(),
  environments: z
    .array(z.enum(PLANNED_ENVIRONMENTS))
    .min(1)
    .max(3)
    .refine((names) => new Set(names).size === names.length, { error: "each environment at most once" })
    .optional(),
});

/** Constraints the architecture must respect. */
export const planningConstraintsSchema = z.strictObject({
  monthly_budget_usd: z.number().positive().max(1e9).optional(),
  compliance: z
    .array(z.enum(COMPLIANCE_FRAMEWORKS))
    .max(3)
    .refine((names) => new Set(names).size === names.length, { error: "each framework at most once" })
    .optional(),
  data_residency: z.enum([...GEOGRAPHIES, "none"]).optional(),
  security_level: z.enum(["baseline", "high"]).optional(),
});

/** What to optimize: the cheapest plan, or the most available one within the budget. */
export const PLANNING_OBJECTIVES = ["minimize_cost", "maximize_availability"] as const;

/** A whole planning request. */
export const planningRequestSchema = z.strictObject({
  goals: planningGoalsSchema,
  constraints: planningConstraintsSchema.optional(),
  objective: z.enum(PLANNING_OBJECTIVES).optional(),
  /** Prefix of the planned projects' ids: `<prefix>-dev` and so on; `demo-` keeps them on the emulators. */
  project_prefix: z
    .string()
    .regex(/^[a-z][a-z0-9-]{3,20}[a-z0-9]$/, { error: "5-22 lowercase letters, digits or hyphens" })
    .optional(),
});

/** Business goals, as parsed. */
export type PlanningGoals = z.infer<typeof planningGoalsSchema>;
/** Constraints, as parsed. */
export type PlanningConstraints = z.infer<typeof planningConstraintsSchema>;
/** A planning request, as parsed. */
export type PlanningRequest = z.infer<typeof planningRequestSchema>;
