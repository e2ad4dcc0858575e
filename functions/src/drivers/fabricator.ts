/**
 * Fabricators make an integration match its config by applying a plan (after firebase-tools'
 * planner / fabricator split): plan = desired vs observed, apply = idempotent and recorded as a
 * release, rollback = re-apply the release before the one being undone, verify = timed probe.
 */
import { contentHash } from "../domain/digest.js";
import type { IntegrationKind } from "../domain/integrations.js";
import { NonRetriableError } from "../domain/errors.js";
import type { Fence } from "./driver.js";
import type { PromotedFrom } from "./promotion.js";
import type {
  Change,
  Desired,
  DriverIO,
  DriverSpec,
  DriverTarget,
  Health,
  IntegrationPlan,
  Release,
  ReleaseStore,
} from "./types.js";

const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === "object" && value !== null && !Array.isArray(value);

/** Field-level differences between what is there and what is wanted, as lines a person can read. */
export function diffStates(observed: unknown, desired: unknown, path = ""): Change[] {
  // Nothing there yet: every wanted field is a change of its own, so the plan reads field by field.
  if (observed === undefined && isObject(desired)) return diffStates({}, desired, path);
  if (isObject(observed) && isObject(desired)) {
    return [...new Set([...Object.keys(observed), ...Object.keys(desired)])]
      .sort()
      .flatMap((key) => diffStates(observed[key], desired[key], path ? `${path}.${key}` : key));
  }
  return contentHash(observed) === contentHash(desired)
    ? []
    : [{ path: path || "$", from: observed, to: desired }];
}

/**
 * A promotion's pin on an apply: the desired state is the target's own with the source's artifact
 * put in (`reshape`), and the release records where that artifact came from.
 */
export interface Pin {
  reshape(desired: unknown): unknown;
  promoted_from: PromotedFrom;
}

function promotedDesired(
  target: DriverTarget,
  ownState: unknown,
  problems: Desired<unknown>["problems"],
  pin: Pin,
): Desired<unknown> {
  const state = pin.reshape(ownState);
  return {
    state,
    problems,
    artifact: {
      name: `promotion/${target.environment.name}/${target.integration}.json`,
      content: `${JSON.stringify({ promoted_from: pin.promoted_from, state }, null, 2)}\n`,
    },
  };
}

export interface ApplyOutcome {
  changed: boolean;
  summary: string;
  release: Release | undefined;
}

export function createFabricator(
  specs: { [K in IntegrationKind]?: DriverSpec<K> },
  releases: ReleaseStore,
  io: DriverIO,
) {
  const specFor = <K extends IntegrationKind>(kind: K): DriverSpec<K> => {
    const spec = specs[kind];
    if (!spec) throw new NonRetriableError(`no driver for integration kind "${kind}"`);
    return spec;
  };

  async function plan<K extends IntegrationKind>(
    target: DriverTarget<K>,
    pin?: Pin,
  ): Promise<IntegrationPlan & { state: unknown }> {
    const spec = specFor(target.kind);
    const mode = spec.mode(target.environment);
    const own = await spec.desired(target, io);
    const desired = pin ? promotedDesired(target, own.state, own.problems, pin) : own;
    const latest = await releases.latest(target.environment.name, target.integration);
    // A refused plan changes nothing, so it reads nothing live either.
    const observed =
      mode === "staged" || desired.problems.length > 0 ? latest?.state : await spec.observe(target, io);
    const changes = desired.problems.length > 0 ? [] : diffStates(observed, desired.state);
    const summary =
      `${mode}: ` +
      (desired.problems.length > 0
        ? `refused: ${desired.problems.map((problem) => problem.message).join("; ")}`
        : changes.length === 0
          ? "no changes"
          : `${changes.length} change(s)${observed === undefined ? " (nothing there yet)" : ""}`);
    return {
      environment: target.environment.name,
      integration: target.integration,
      mode,
      changes,
      problems: desired.problems,
      summary,
      artifact: desired.artifact ?? null,
      state: desired.state,
    };
  }

  return {
    /** The plan of an integration; with a pin, of the promotion of another environment's artifact. */
    plan,

    /** How the integration reaches its environment: emulated, staged or live. */
    modeOf<K extends IntegrationKind>(target: DriverTarget<K>) {
      return specFor(target.kind).mode(target.environment);
    },

    /** Applies the plan; a second apply finds no changes and does nothing. */
    async apply<K extends IntegrationKind>(
      target: DriverTarget<K>,
      deploymentId: string | null,
      fence?: Fence,
      pin?: Pin,
    ): Promise<ApplyOutcome> {
      const planned = await plan(target, pin);
      if (planned.problems.length > 0) throw new NonRetriableError(planned.summary);
      if (planned.changes.length === 0) {
        const latest = await releases.latest(target.environment.name, target.integration);
        // A promotion records what it carried, even onto a target already in that state.
        const recorded = latest && (!pin || latest.digest === contentHash(planned.state));
        if (latest && recorded) return { changed: false, summary: planned.summary, release: latest };
        // Already as wanted, but never recorded: record it as the baseline a later rollback returns to.
      } else if (planned.mode !== "staged") {
        await specFor(target.kind).apply(target, planned.state, io);
      }
      const release = await releases.record(
        {
          environment: target.environment.name,
          integration: target.integration,
          kind: target.kind,
          mode: planned.mode,
          state: planned.state,
          digest: contentHash(planned.state),
          artifact: planned.artifact,
          deployment_id: deploymentId,
          action: "apply",
          undoes: null,
          promoted_from: pin?.promoted_from ?? null,
          created_at: io.now(),
        },
        fence,
      );
      const verb =
        planned.mode === "staged" ? "staged (artifact built and validated, nothing live touched)" : "applied";
      const what =
        planned.changes.length === 0
          ? "already as wanted, recorded as the baseline"
          : `${planned.changes.length} change(s)`;
      return {
        changed: planned.changes.length > 0,
        summary: `${verb}: release ${release.number}, ${what}`,
        release,
      };
    },

    /**
     * Undoes the release the given deployment applied, by re-applying the one before it. A rollback
     * names the release it undoes, so a second rollback of the same release does nothing (the newest
     * release is then that rollback), and a release another deployment made since is never undone.
     */
    async rollback<K extends IntegrationKind>(
      target: DriverTarget<K>,
      deploymentId: string | null,
      fence?: Fence,
    ): Promise<{ summary: string }> {
      const history = await releases.newest(target.environment.name, target.integration, 2);
      const [latest, previous] = history;
      if (latest && latest.action === "rollback" && latest.deployment_id === deploymentId) {
        return {
          summary: `already rolled back: release ${latest.number} undid release ${latest.undoes ?? "?"}`,
        };
      }
      if (!latest || (deploymentId !== null && latest.deployment_id !== deploymentId)) {
        return { summary: "nothing to roll back: this deployment recorded no release" };
      }
      if (!previous) return { summary: `no release before ${latest.number} to go back to; left as is` };
      const spec = specFor(target.kind);
      const mode = spec.mode(target.environment);
      // A release made before the environment changed mode holds another mode's state (a staged
      // manifest is no live site): there is nothing of this mode to go back to.
      if (previous.mode !== mode)
        return {
          summary: `${mode}: no ${mode} release before ${latest.number} to go back to (release ${previous.number} was ${previous.mode}); left as is`,
        };
      if (mode !== "staged") await spec.apply(target, previous.state, io);
      const release = await releases.record(
        {
          ...previous,
          deployment_id: deploymentId,
          action: "rollback",
          undoes: latest.number,
          created_at: io.now(),
        },
        fence,
      );
      return {
        summary: `${mode}: rolled back to the state of release ${previous.number} (recorded as release ${release.number}, undoing release ${latest.number})`,
      };
    },

    /** The newest release of an integration; undefined before its first. */
    latestRelease(environment: string, integration: string): Promise<Release | undefined> {
      return releases.latest(environment, integration);
    },

    /** One recorded release of an integration, by its number. */
    release(environment: string, integration: string, number: number): Promise<Release | undefined> {
      return releases.get(environment, integration, number);
    },

    /**
     * What the integration holds now: asked of the emulator or Google where the kind reaches one,
     * else (staged) the state of its latest recorded release.
     */
    async observed<K extends IntegrationKind>(
      target: DriverTarget<K>,
    ): Promise<{ state: unknown; from: "observed" | "release" }> {
      const spec = specFor(target.kind);
      if (spec.mode(target.environment) !== "staged") {
        const state = await spec.observe(target, io);
        if (state !== undefined) return { state, from: "observed" };
      }
      const latest = await releases.latest(target.environment.name, target.integration);
      return { state: latest?.state, from: "release" };
    },

    /** Timed health probe. */
    async verify<K extends IntegrationKind>(target: DriverTarget<K>): Promise<Health> {
      return probe(target, io, () => releases.latest(target.environment.name, target.integration));
    },

    /**
     * Timed health probes of one environment's integrations, taken together: their latest releases
     * are read at once, and probes that GET the same URL (the project's rules, its topics) share one
     * request, as reads taken at the same moment would answer the same.
     */
    async verifyEnvironment(targets: readonly DriverTarget<IntegrationKind>[]): Promise<Health[]> {
      const environment = targets[0]?.environment.name;
      if (environment === undefined) return [];
      const latest = releases.latestOf(
        environment,
        targets.map((target) => target.integration),
      );
      const shared: DriverIO = { ...io, fetch: sharingGets(io.fetch) };
      return Promise.all(
        targets.map((target) => probe(target, shared, async () => (await latest).get(target.integration))),
      );
    },
  };

  async function probe<K extends IntegrationKind>(
    target: DriverTarget<K>,
    io: DriverIO,
    latestRelease: () => Promise<Release | undefined>,
  ): Promise<Health> {
    const spec = specFor(target.kind);
    const started = performance.now();
    const mode = spec.mode(target.environment);
    try {
      const latest = await latestRelease();
      const health = await spec.verify(target, io, latest);
      return { ...health, mode, latency_ms: Math.round(performance.now() - started) };
    } catch (error) {
      return {
        status: "down",
        details: error instanceof Error ? error.message : String(error),
        mode,
        latency_ms: Math.round(performance.now() - started),
      };
    }
  }
}

export type Fabricator = ReturnType<typeof createFabricator>;

/** A fetch whose GETs of one URL (with the same headers) share one request; each caller reads its own copy of the answer. */
export function sharingGets(send: typeof fetch): typeof fetch {
  const sent = new Map<string, Promise<Response>>();
  return async (input, init) => {
    if ((init?.method ?? "GET") !== "GET" || typeof input !== "string" || init?.body != null)
      return send(input, init);
    const key = `${input} ${JSON.stringify(init?.headers ?? {})}`;
    let answer = sent.get(key);
    if (!answer) {
      answer = send(input, init);
      sent.set(key, answer);
    }
    return (await answer).clone();
  };
}
