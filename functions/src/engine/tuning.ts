/**
 * Tuning under guardrails: applies a recommendation's setting change as an override (a person with
 * `POST /optimize/{id}/apply`, or the nightly job within `tuning.auto_apply` and `tuning.max_change`),
 * records it as a tuning action, watches it as a canary over the environment's next deployments
 * and reverts it, with an alert and an audit record, when they do worse than its canary allows.
 */
import { randomBytes } from "node:crypto";
import type { Clock } from "../app.js";
import type { Bus } from "../bus.js";
import type { AuditActor } from "../domain/audit.js";
import type { Deployment } from "../domain/engine-model.js";
import { ConflictError, NotFoundError } from "../domain/errors.js";
import {
  canaryFor,
  guardrail,
  judgeCanary,
  overrideId,
  type CanaryVerdict,
  type SettingChange,
  type TuningAction,
} from "../domain/learning/tuning.js";
import type { AlertDoc } from "../domain/model.js";
import {
  optimizeRequestSchema,
  recommend,
  type History,
  type Recommendation,
  type TimeRange,
  type WindowAggregates,
} from "../domain/optimize.js";
import type { Logger } from "../logs.js";
import type { AuditLog } from "../store/audit-log.js";
import type { EngineStore } from "../store/engine-store.js";
import type { HistoryReader } from "../store/history.js";
import type { TuningStore } from "../store/tuning-store.js";
import type { EnvironmentResolver } from "./environments.js";
import { runTransaction } from "../store/transaction.js";

/** The window recommendations are computed over, as `POST /optimize` does. */
const WINDOW_MS = 30 * 86_400_000;
/** Deployments read after a change when judging its canary, beyond those it needs (some still run). */
const CANARY_READ_SLACK = 20;
/** Deployments read at once when looking for those a change bears on, and at most this many pages. */
const CANARY_PAGE = 50;
const CANARY_PAGES = 20;

/** Reverted actions of an environment read when excluding their deployments from a baseline. */
const REVERTED_READ_LIMIT = 100;

const SYSTEM: AuditActor = { kind: "system", id: "tuning", role: null };

/**
 * Whether a deployment bears on a change: every deployment of its environment for `concurrency`;
 * those that deploy any instance of the integration for a task engine setting of one.
 */
function touches(deployment: Deployment, change: SettingChange): boolean {
  return (
    change.integration === null ||
    deployment.integrations.some((integration) => integration.split(":")[0] === change.integration)
  );
}

/** Who applies: a person (their requester name and audit actor) or the nightly job. */
export interface Applier {
  mode: "auto" | "manual";
  /** As `requested_by` names people (`user:alice@acme.dev`, `key:k_1`), or `system:tuning`. */
  by: string;
  actor: AuditActor;
  reason: string;
}

export function createTuning(deps: {
  tuning: TuningStore;
  engineStore: EngineStore;
  history: HistoryReader;
  environments: EnvironmentResolver;
  raiseAlert: (id: string, alert: AlertDoc) => Promise<void>;
  bus: Bus;
  audit: Pick<AuditLog, "append">;
  clock: Clock;
  log: Logger;
  /**
   * The warehouse's counts over the window for some environments (null: all), as `POST /optimize`
   * uses them; absent or null: the documents alone. Apply and the nightly job recompute the
   * recommendations as /optimize made them, so the same id carries the same evidence.
   */
  aggregates?: (range: TimeRange, environments: string[] | null) => Promise<WindowAggregates | null>;
}) {
  const { tuning, clock } = deps;

  async function publish(id: string, action: TuningAction, to: string, detail: string): Promise<void> {
    await deps.bus.publishEvent({
      event_id: `tuning:${id}:${to}`,
      kind: "tuning",
      deployment_id: null,
      task_id: null,
      environment: action.change.environment,
      integration: action.change.integration,
      from: to === "canary" ? String(action.change.before) : String(action.change.after),
      to,
      attempt: null,
      detail,
      correlation_id: id,
      at: clock.now().toISOString(),
      actor: action.applied_by,
      payload: { change: action.change, canary: action.canary },
    });
  }

  /** Applies one recommendation's change, as an override and a tuning action in canary. */
  async function applyRecommendation(
    recommendation: Recommendation,
    history: History,
    applier: Applier,
  ): Promise<{ id: string; action: TuningAction }> {
    const change = recommendation.change;
    if (!change)
      throw new ConflictError(
        `${recommendation.id} is not one setting change (${recommendation.action}): ${recommendation.how}`,
      );
    const config = await deps.environments.config();
    // Deployments created while a since-reverted change was in force ran under a setting no
    // longer in force: they are not the baseline of the next change.
    const reverted = await tuning.actions
      .where("change.environment", "==", change.environment)
      .where("status", "==", "reverted")
      .orderBy("applied_at", "desc")
      .limit(REVERTED_READ_LIMIT)
      .get();
    const revertedWindows = reverted.docs.map((doc) => {
      const { applied_at, decided_at } = doc.data();
      return { from: applied_at.getTime(), to: (decided_at ?? clock.now()).getTime() };
    });
    const revertedWatched = new Set(reverted.docs.flatMap((doc) => doc.data().canary.watched));
    const underReverted = (deployment: Deployment & { id: string }) =>
      revertedWatched.has(deployment.id) ||
      revertedWindows.some(
        ({ from, to }) => deployment.created_at.getTime() > from && deployment.created_at.getTime() <= to,
      );
    const now = clock.now();
    const id = `tune-${now.getTime().toString(36)}-${randomBytes(3).toString("hex")}`;
    const improvement = recommendation.expected_improvement;
    const action: TuningAction = {
      recommendation_id: recommendation.id,
      change,
      mode: applier.mode,
      applied_by: applier.by,
      applied_at: now,
      reason: `${recommendation.action}; ${applier.reason}`,
      evidence: {
        metric: recommendation.evidence.metric,
        value: recommendation.evidence.value,
        unit: recommendation.evidence.unit,
        sample_size: recommendation.evidence.sample_size,
        rule: recommendation.evidence.rule,
        related: recommendation.evidence.related,
      },
      expected_gain: {
        metric: improvement.metric,
        value: improvement.value,
        unit: improvement.unit,
        method: improvement.method,
        simulated: improvement.simulated ? { ...improvement.simulated } : null,
      },
      canary: canaryFor(
        history.deployments.filter(
          (deployment) =>
            deployment.environment === change.environment &&
            touches(deployment, change) &&
            !underReverted(deployment),
        ),
        config.tuning,
      ),
      status: "canary",
      decided_at: null,
      decision: null,
    };
    const overrideRef = tuning.overrides.doc(overrideId(change));
    await runTransaction(tuning.db, async (tx) => {
      // One change per environment is watched at a time: changes watched over the same
      // deployments could not each be given their own verdict.
      const watching = await tx.get(
        tuning.actions
          .where("change.environment", "==", change.environment)
          .where("status", "==", "canary")
          .limit(1),
      );
      const holder = watching.docs[0];
      if (holder) {
        const held = holder.data().change;
        throw new ConflictError(
          `${held.path} is already being watched as the canary of ${holder.id} (${held.before} -> ${held.after}); one change per environment is watched at a time, so ${change.path} waits until it is kept or reverted; GET /tuning shows it`,
        );
      }
      tx.create(tuning.actions.doc(id), action);
      tx.set(overrideRef, {
        environment: change.environment,
        setting: change.setting,
        integration: change.integration,
        value: change.after,
        action_id: id,
        since: now,
      });
    });
    await publish(
      id,
      action,
      "canary",
      `${change.path} ${change.before} -> ${change.after}: ${action.reason}`,
    );
    if (applier.mode === "auto")
      await deps.audit.append({
        actor: SYSTEM,
        action: "tuning.apply",
        target: id,
        source: "scheduler",
        outcome: "ok",
        status: null,
        correlation_id: id,
        detail: `${change.path} ${change.before} -> ${change.after}: ${action.reason}`,
      });
    return { id, action };
  }

  async function currentRecommendations(
    now: Date,
    scope: (history: History) => History,
    environments: string[] | null,
  ) {
    const range = { from: new Date(now.getTime() - WINDOW_MS), to: now };
    const [history, aggregates] = await Promise.all([
      deps.history.load(range),
      deps.aggregates ? deps.aggregates(range, environments) : Promise.resolve(null),
    ]);
    const loaded = scope(history);
    return { history: loaded, result: recommend(loaded, optimizeRequestSchema.parse({}), now, aggregates) };
  }

  /**
   * The deployments of a change's environment created after it that bear on it, oldest first: at
   * least `needed` plus some still running, read page by page past those that do not.
   */
  async function deploymentsAfter(
    change: SettingChange,
    since: Date,
    needed: number,
  ): Promise<(Deployment & { id: string })[]> {
    const found: (Deployment & { id: string })[] = [];
    const query = deps.engineStore.deployments
      .where("environment", "==", change.environment)
      .where("created_at", ">", since)
      .orderBy("created_at", "asc")
      .limit(CANARY_PAGE);
    let snap = await query.get();
    for (let page = 1; ; page++) {
      for (const doc of snap.docs) {
        const deployment = { ...doc.data(), id: doc.id };
        if (touches(deployment, change)) found.push(deployment);
      }
      const last = snap.docs.at(-1);
      if (
        found.length >= needed + CANARY_READ_SLACK ||
        !last ||
        snap.size < CANARY_PAGE ||
        page >= CANARY_PAGES
      )
        return found;
      snap = await query.startAfter(last).get();
    }
  }

  /** Judges the canary in force in an environment, if any, and settles it once it has its deployments. */
  async function watch(environment: string): Promise<(CanaryVerdict & { action_id: string }) | null> {
    const overrides = await tuning.overridesOf(environment);
    let verdict: (CanaryVerdict & { action_id: string }) | null = null;
    for (const override of overrides) {
      const action = (await tuning.actions.doc(override.action_id).get()).data();
      if (action?.status !== "canary") continue;
      const after = await deploymentsAfter(
        action.change,
        action.applied_at,
        action.canary.deployments_needed,
      );
      const judged = judgeCanary(action.canary, after);
      verdict = { ...judged, action_id: override.action_id };
      if (judged.decision === "watching") continue;
      await settle(override.action_id, judged);
    }
    return verdict;
  }

  async function settle(
    id: string,
    verdict: Exclude<CanaryVerdict, { decision: "watching" }>,
  ): Promise<void> {
    const now = clock.now();
    const actionRef = tuning.actions.doc(id);
    const settled = await runTransaction(tuning.db, async (tx) => {
      const action = (await tx.get(actionRef)).data();
      if (action?.status !== "canary") return null; // settled by another instance
      const overrideRef = tuning.overrides.doc(overrideId(action.change));
      const override = (await tx.get(overrideRef)).data();
      const updated: TuningAction = {
        ...action,
        status: verdict.decision === "revert" ? "reverted" : "kept",
        decided_at: now,
        decision: verdict.message,
        canary: {
          ...action.canary,
          watched: verdict.watched,
          observed_mean: verdict.observed_mean,
          observed_failure_share: verdict.observed_failure_share,
        },
      };
      tx.set(actionRef, updated);
      if (verdict.decision === "revert" && override?.action_id === id) tx.delete(overrideRef);
      return updated;
    });
    if (!settled) return;
    const { change } = settled;
    const what =
      verdict.decision === "revert"
        ? `${change.path} reverted from ${change.after} to the config's value (${change.before} when applied): ${verdict.message}`
        : `${change.path} ${change.before} -> ${change.after} kept: ${verdict.message}`;
    await publish(id, settled, settled.status, what);
    await deps.audit.append({
      actor: SYSTEM,
      action: verdict.decision === "revert" ? "tuning.revert" : "tuning.keep",
      target: id,
      source: "trigger",
      outcome: "ok",
      status: null,
      correlation_id: id,
      detail: what,
    });
    if (verdict.decision === "revert")
      await deps.raiseAlert(`tuning__${id}`, {
        level: "warning",
        status: "open",
        source: "tuning",
        environment: change.environment,
        integration: null,
        deployment_id: verdict.watched.at(-1) ?? null,
        message: `tuning ${id} reverted by its canary: ${what}. ${settled.canary.rule}`,
        opened_at: now,
        last_seen_at: now,
        resolved_at: null,
      });
  }

  return {
    /**
     * `POST /optimize/{id}/apply`: applies a current recommendation (computed now, over the history
     * the caller may see) as an override watched as a canary.
     */
    async apply(
      recommendationId: string,
      applier: Applier,
      scope: (history: History) => History = (history) => history,
      environments: string[] | null = null,
    ) {
      const now = clock.now();
      const { history, result } = await currentRecommendations(now, scope, environments);
      const recommendation = result.optimization_plan.find((candidate) => candidate.id === recommendationId);
      if (!recommendation)
        throw new NotFoundError(
          `no current recommendation "${recommendationId}"; POST /api/orchestration/optimize lists the current ones (${result.optimization_plan.map((r) => r.id).join(", ") || "none now"})`,
        );
      return applyRecommendation(recommendation, history, applier);
    },

    watch,

    /**
     * The nightly job: settles the canaries that have their deployments, then applies each
     * recommended change the guardrails allow; the others stay recommendations, with the reason.
     */
    async autoTune() {
      const now = clock.now();
      const config = await deps.environments.config();
      const judged = [];
      for (const env of config.environments) {
        const verdict = await watch(env.name);
        if (verdict) judged.push({ environment: env.name, ...verdict });
      }
      const { history, result } = await currentRecommendations(now, (loaded) => loaded, null);
      const applied: { id: string; recommendation_id: string; change: string }[] = [];
      const recommended: { recommendation_id: string; reason: string }[] = [];
      for (const recommendation of result.optimization_plan) {
        if (!recommendation.change) continue;
        const allowed = guardrail(recommendation.change, config.tuning);
        if (!allowed.automatic) {
          recommended.push({ recommendation_id: recommendation.id, reason: allowed.reason });
          continue;
        }
        try {
          const { id, action } = await applyRecommendation(recommendation, history, {
            mode: "auto",
            by: "system:tuning",
            actor: SYSTEM,
            reason: allowed.reason,
          });
          applied.push({
            id,
            recommendation_id: recommendation.id,
            change: `${action.change.path} ${action.change.before} -> ${action.change.after}`,
          });
        } catch (error) {
          if (!(error instanceof ConflictError)) throw error;
          recommended.push({ recommendation_id: recommendation.id, reason: error.message });
        }
      }
      return { result, judged, applied, recommended };
    },

    /** The newest tuning actions, newest first. */
    async list(limit: number): Promise<(TuningAction & { id: string })[]> {
      const snap = await tuning.actions.orderBy("applied_at", "desc").limit(limit).get();
      return snap.docs.map((doc) => ({ ...doc.data(), id: doc.id }));
    },
  };
}

export type Tuning = ReturnType<typeof createTuning>;
