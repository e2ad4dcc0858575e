import assert from "node:assert/strict";
import type { OrchestrationEvent } from "../../functions/src/bus.js";
import type { JobRun } from "../../functions/src/domain/job-runs.js";
import {
  buildCatalog,
  cronForInterval,
  decideCatchUp,
  diffCloudJobs,
  jobDefinitionSchema,
  tickRunId,
  type ExistingCloudJob,
  type JobDefinition,
  type WantedCloudJob,
} from "../../functions/src/domain/schedules.js";
import { validateConfig } from "../../functions/src/domain/config.js";
import { createJobRunner, type ActionResult, type JobActions } from "../../functions/src/engine/jobs.js";
import { startTicker } from "../../functions/src/engine/ticker.js";
import { createMemoryJobStore } from "../../functions/src/store/job-store.js";
import { exampleConfig } from "../support/config-builder.js";
import { VirtualTime } from "../../scripts/lib/virtual-time.js";

const silent = {
  info: () => undefined,
  warn: () => undefined,
  error: () => undefined,
  debug: () => undefined,
} as never;

function job(
  name: string,
  cron: string,
  time_zone: string,
  extra: Partial<JobDefinition> = {},
): JobDefinition {
  return jobDefinitionSchema.parse({
    name,
    kind: "lease-sweep",
    description: name,
    cron,
    time_zone,
    environment: null,
    host: "control-plane",
    catch_up: "skip",
    timeout_seconds: 600,
    ...extra,
  });
}

/** A simulated deployment of the runner and the ticker over virtual time and the in-memory store. */
function simulation(start: string, jobs: JobDefinition[], durations: Record<string, number> = {}) {
  const vt = new VirtualTime(new Date(start));
  const store = createMemoryJobStore();
  const events: OrchestrationEvent[] = [];
  let running = 0;
  let maxRunning = 0;
  const behaviour: Record<string, () => Promise<ActionResult>> = {};
  let counter = 0;
  const act = async (definition: JobDefinition): Promise<ActionResult> => {
    running += 1;
    maxRunning = Math.max(maxRunning, running);
    try {
      await vt.sleep(durations[definition.name] ?? 1000);
      return behaviour[definition.name] ? await behaviour[definition.name]!() : { summary: "done" };
    } finally {
      running -= 1;
    }
  };
  const actions = Object.fromEntries(
    [
      "lease-sweep",
      "health-check",
      "optimization",
      "environment-backup",
      "control-plane-backup",
      "retention-purge",
      "warehouse-maintenance",
    ].map((kind) => [kind, act]),
  ) as unknown as JobActions;
  const runner = createJobRunner({
    store,
    clock: vt.clock,
    bus: { publishTask: () => Promise.resolve(), publishEvent: (e) => Promise.resolve(void events.push(e)) },
    log: silent,
    timer: vt.timer,
    catalog: () => Promise.resolve(jobs),
    actions,
    newHolder: () => `holder-${++counter}`,
  });
  const ticker = (fireTwice = false) =>
    startTicker({
      clock: vt.clock,
      timer: vt.timer,
      jobs: () => Promise.resolve(jobs),
      fire: async (name, tick) => {
        await Promise.all(
          fireTwice ? [runner.runTick(name, tick), runner.runTick(name, tick)] : [runner.runTick(name, tick)],
        );
      },
      catchUp: async (name, now) => void (await runner.catchUpTo(name, now)),
      onError: (name, error) => assert.fail(`${name}: ${String(error)}`),
    });
  const runsOf = (name: string): JobRun[] =>
    [...store.runs.values()]
      .filter((r) => r.job === name)
      .sort((a, b) => a.scheduled_for.getTime() - b.scheduled_for.getTime());
  return { vt, store, events, runner, ticker, runsOf, behaviour, maxRunning: () => maxRunning };
}

const iso = (runs: JobRun[]) => runs.map((r) => r.scheduled_for.toISOString());

function hourly(fromIso: string, count: number): string[] {
  const start = Date.parse(fromIso);
  return Array.from({ length: count }, (_, i) => new Date(start + i * 3_600_000).toISOString());
}

describe("schedule catalog", () => {
  it("catalogs every job the issue names, from the example config", () => {
    const result = validateConfig(exampleConfig());
    assert.ok(result.ok);
    const catalog = buildCatalog({
      ...result.config,
      schedules: { time_zone: "Europe/Berlin", retention_days: 30 },
    });
    const kinds = new Set(catalog.map((j) => j.kind));
    for (const kind of [
      "lease-sweep",
      "health-check",
      "optimization",
      "environment-backup",
      "control-plane-backup",
      "retention-purge",
      "warehouse-maintenance",
    ]) {
      assert.ok(kinds.has(kind as JobDefinition["kind"]), kind);
    }
    const sweeper = catalog.find((j) => j.name === "lease-sweeper");
    assert.equal(sweeper?.cron, "* * * * *");
    for (const env of result.config.environments) {
      assert.ok(catalog.some((j) => j.name === `health-${env.name}` && j.environment === env.name));
      const backup = env.integrations.find((i) => i.kind === "backup");
      const job = catalog.find((j) => j.name === `backup-${env.name}`);
      if (backup?.kind === "backup") assert.equal(job?.cron, backup.settings.schedule);
      else assert.equal(job, undefined);
    }
    assert.ok(
      catalog
        .filter((j) => j.kind !== "lease-sweep" && j.kind !== "health-check")
        .every((j) => j.time_zone === "Europe/Berlin"),
    );
  });

  it("schedules each backup instance on its own cron, naming the instance its job backs up", () => {
    const config = exampleConfig();
    config.environments[0].integrations.push("backup:weekly");
    config.environments[0].overrides["backup:weekly"] = { schedule: "0 4 * * 0", retention_days: 60 };
    const result = validateConfig(config);
    assert.ok(result.ok, JSON.stringify(!result.ok && result.problems));
    const backups = buildCatalog(result.config).filter(
      (j) => j.kind === "environment-backup" && j.environment === "dev",
    );
    assert.deepEqual(
      backups.map((j) => [j.name, j.cron, j.integration]),
      [
        ["backup-dev", "0 3 * * *", undefined],
        ["backup-dev_weekly", "0 4 * * 0", "backup:weekly"],
      ],
    );
    assert.match(backups[1]!.description, /\(backup:weekly\) \(keeps 60 days\)/);
  });

  it("an instance's backup job never takes the name of another environment's backup job", () => {
    const config = exampleConfig();
    config.environments[0].integrations.push("backup:weekly");
    config.environments.push({
      ...structuredClone(config.environments[0]),
      name: "dev-weekly",
      project_id: "demo-dev-weekly",
    });
    config.environments[config.environments.length - 1]!.integrations = ["firestore", "backup"];
    config.environments[config.environments.length - 1]!.overrides = {};
    const result = validateConfig(config);
    assert.ok(result.ok, JSON.stringify(!result.ok && result.problems));
    const backups = buildCatalog(result.config)
      .filter((j) => j.kind === "environment-backup")
      .map((j) => [j.name, j.environment, j.integration ?? "backup"]);
    assert.deepEqual(
      backups.filter(([, environment]) => environment === "dev" || environment === "dev-weekly"),
      [
        ["backup-dev", "dev", "backup"],
        ["backup-dev_weekly", "dev", "backup:weekly"],
        ["backup-dev-weekly", "dev-weekly", "backup"],
      ],
    );
    const names = backups.map(([name]) => name);
    assert.equal(new Set(names).size, names.length, `job names repeat: ${names.join(", ")}`);
  });

  it("turns a probe interval into a cron Cloud Scheduler can run (never longer than asked, at least a minute)", () => {
    const table: [number, string][] = [
      [10, "* * * * *"],
      [60, "* * * * *"],
      [120, "*/2 * * * *"],
      [420, "*/6 * * * *"],
      [900, "*/15 * * * *"],
      [3600, "0 * * * *"],
      [5 * 3600, "0 */4 * * *"],
    ];
    for (const [seconds, cron] of table) assert.equal(cronForInterval(seconds), cron, `${seconds} s`);
  });

  it("refuses a bad cron or time zone, naming the field", () => {
    const bad = jobDefinitionSchema.safeParse({ ...job("x1", "* * * * *", "UTC"), cron: "61 * * * *" });
    assert.ok(!bad.success && bad.error.issues[0]?.path[0] === "cron");
    const zone = jobDefinitionSchema.safeParse({
      ...job("x1", "* * * * *", "UTC"),
      time_zone: "Mars/Olympus",
    });
    assert.ok(!zone.success && zone.error.issues[0]?.path[0] === "time_zone");
  });

  it("decides catch-up per policy", () => {
    const last = new Date("2026-12-01T00:00:00Z");
    const now = new Date("2026-12-01T05:00:00Z");
    const every = (catch_up: JobDefinition["catch_up"]) => job("h1", "0 * * * *", "UTC", { catch_up });
    const hours = ["01", "02", "03", "04"].map((h) => new Date(`2026-12-01T${h}:00:00Z`));
    assert.deepEqual(decideCatchUp(every("skip"), last, now), { run: [], missed: hours, uncounted: 0 });
    assert.deepEqual(decideCatchUp(every("run-once"), last, now), {
      run: hours.slice(3),
      missed: hours.slice(0, 3),
      uncounted: 0,
    });
    assert.deepEqual(decideCatchUp(every("run-all"), last, now), { run: hours, missed: [], uncounted: 0 });
    assert.deepEqual(decideCatchUp(every("run-all"), null, now), { run: [], missed: [], uncounted: 0 });
  });
});

describe("scheduled jobs over virtual time", () => {
  it("runs a week across the autumn DST change in Europe/Berlin: every tick once, in order", async function () {
    this.timeout(60_000);
    const nightly = job("nightly", "30 2 * * *", "Europe/Berlin");
    const hourlyBerlin = job("hourly", "0 * * * *", "Europe/Berlin");
    const sweep = job("sweeper", "* * * * *", "UTC", { timeout_seconds: 55 });
    const sim = simulation("2026-10-21T12:00:30Z", [nightly, hourlyBerlin, sweep]);
    const ticker = await sim.ticker();
    await sim.vt.runUntil(new Date("2026-10-28T12:00:30Z"));
    ticker.stop();
    // Written from the tz rules, not from croner: CEST (UTC+2) until 2026-10-25 01:00Z, then CET (UTC+1);
    // 02:30 happens twice on the 25th and a fixed-time job runs at the first one.
    assert.deepEqual(iso(sim.runsOf("nightly")), [
      "2026-10-22T00:30:00.000Z",
      "2026-10-23T00:30:00.000Z",
      "2026-10-24T00:30:00.000Z",
      "2026-10-25T00:30:00.000Z",
      "2026-10-26T01:30:00.000Z",
      "2026-10-27T01:30:00.000Z",
      "2026-10-28T01:30:00.000Z",
    ]);
    // An hourly job fires on both 02:00s of the 25th: every real hour, 168 in the week.
    assert.deepEqual(iso(sim.runsOf("hourly")), hourly("2026-10-21T13:00:00.000Z", 168));
    const sweeps = sim.runsOf("sweeper");
    assert.equal(sweeps.length, 7 * 24 * 60);
    for (const runs of [sim.runsOf("nightly"), sim.runsOf("hourly"), sweeps]) {
      assert.ok(runs.every((r) => r.outcome === "succeeded" && r.trigger === "schedule"));
      assert.ok(
        runs.every((r) => r.started_at?.getTime() === r.scheduled_for.getTime()),
        "each run starts on its tick",
      );
      assert.equal(new Set(runs.map((r) => r.id)).size, runs.length);
    }
    assert.equal(
      sim.events.filter((e) => e.kind === "job" && e.to === "succeeded").length,
      7 + 168 + 7 * 24 * 60,
    );
  });

  it("runs a week across the spring DST change: the 02:30 that does not exist runs at 03:00 local", async () => {
    const sim = simulation("2026-03-25T12:00:00Z", [
      job("nightly", "30 2 * * *", "Europe/Berlin"),
      job("hourly", "0 * * * *", "Europe/Berlin"),
    ]);
    const ticker = await sim.ticker();
    await sim.vt.runUntil(new Date("2026-04-01T12:00:00Z"));
    ticker.stop();
    assert.deepEqual(iso(sim.runsOf("nightly")), [
      "2026-03-26T01:30:00.000Z",
      "2026-03-27T01:30:00.000Z",
      "2026-03-28T01:30:00.000Z",
      "2026-03-29T01:00:00.000Z",
      "2026-03-30T00:30:00.000Z",
      "2026-03-31T00:30:00.000Z",
      "2026-04-01T00:30:00.000Z",
    ]);
    assert.deepEqual(iso(sim.runsOf("hourly")), hourly("2026-03-25T13:00:00.000Z", 168));
  });

  it("never overlaps a run that outlasts its interval, and each tick still runs once with duplicate deliveries", async () => {
    const slow = job("slow", "*/5 * * * *", "UTC", { timeout_seconds: 1800 });
    const sim = simulation("2026-12-01T00:00:00Z", [slow], { slow: 12 * 60_000 });
    const ticker = await sim.ticker(true);
    await sim.vt.runUntil(new Date("2026-12-01T01:00:00Z"));
    ticker.stop();
    const runs = sim.runsOf("slow");
    const started = runs
      .filter((r) => r.outcome === "succeeded")
      .map((r) => r.scheduled_for.toISOString().slice(11, 16));
    assert.deepEqual(started, ["00:05", "00:20", "00:35"]);
    assert.deepEqual(
      runs.filter((r) => r.outcome === "running").map((r) => r.scheduled_for.toISOString().slice(11, 16)),
      ["00:50"],
    );
    const skipped = runs
      .filter((r) => r.outcome === "skipped")
      .map((r) => r.scheduled_for.toISOString().slice(11, 16));
    assert.deepEqual(skipped, ["00:10", "00:15", "00:25", "00:30", "00:40", "00:45", "00:55", "01:00"]);
    assert.ok(runs.filter((r) => r.outcome === "skipped").every((r) => /never overlaps/.test(r.summary)));
    assert.equal(sim.maxRunning(), 1);
    assert.equal(new Set(runs.map((r) => r.id)).size, runs.length);
  });

  for (const [policy, expectRun, expectMissed] of [
    ["skip", [], ["07:00", "08:00", "09:00", "10:00", "11:00"]],
    ["run-once", ["11:00"], ["07:00", "08:00", "09:00", "10:00"]],
    ["run-all", ["07:00", "08:00", "09:00", "10:00", "11:00"], []],
  ] as const) {
    it(`catches up after downtime by policy ${policy}`, async () => {
      const hourlyJob = job("backup", "0 * * * *", "Europe/Berlin", { catch_up: policy });
      const sim = simulation("2026-12-01T00:30:00Z", [hourlyJob]);
      let ticker = await sim.ticker();
      await sim.vt.runUntil(new Date("2026-12-01T06:30:00Z"));
      ticker.stop(); // down from 06:30 to 11:30 UTC
      await sim.vt.runUntil(new Date("2026-12-01T11:30:00Z"));
      ticker = await sim.ticker();
      await sim.vt.runUntil(new Date("2026-12-01T13:30:00Z"));
      ticker.stop();
      const runs = sim.runsOf("backup");
      const hm = (rs: JobRun[]) => rs.map((r) => r.scheduled_for.toISOString().slice(11, 16));
      assert.deepEqual(hm(runs.filter((r) => r.trigger === "schedule")), [
        "01:00",
        "02:00",
        "03:00",
        "04:00",
        "05:00",
        "06:00",
        "12:00",
        "13:00",
      ]);
      assert.deepEqual(
        hm(runs.filter((r) => r.trigger === "catch-up" && r.outcome === "succeeded")),
        expectRun,
      );
      assert.deepEqual(hm(runs.filter((r) => r.outcome === "missed")), expectMissed);
      const catchUpRuns = runs.filter((r) => r.trigger === "catch-up" && r.outcome === "succeeded");
      assert.ok(
        catchUpRuns.every(
          (r) => r.started_at?.toISOString() === "2026-12-01T11:30:00.000Z" || policy === "run-all",
        ),
      );
    });
  }

  it("records a failure and a timeout, raises the job's alert once, and resolves it when a run succeeds", async () => {
    const flaky = job("flaky", "0 * * * *", "UTC", { timeout_seconds: 60 });
    const sim = simulation("2026-12-01T00:30:00Z", [flaky], { flaky: 1000 });
    let calls = 0;
    sim.behaviour.flaky = () => {
      calls += 1;
      if (calls === 1) return Promise.reject(new Error("export failed: disk full"));
      if (calls === 2) return sim.vt.sleep(120_000).then(() => ({ summary: "late" }));
      return Promise.resolve({ summary: "ok" });
    };
    const ticker = await sim.ticker();
    await sim.vt.runUntil(new Date("2026-12-01T03:30:00Z"));
    ticker.stop();
    const runs = sim.runsOf("flaky");
    assert.deepEqual(
      runs.map((r) => r.outcome),
      ["failed", "timed_out", "succeeded"],
    );
    assert.equal(runs[0]?.summary, "export failed: disk full");
    assert.equal(runs[1]?.duration_ms, 60_000);
    const alert = sim.store.alerts.get("job__flaky");
    assert.equal(alert?.status, "resolved");
    assert.equal(alert?.source, "job");
    const alertEvents = sim.events.filter((e) => e.kind === "alert").map((e) => e.to);
    assert.deepEqual(alertEvents, ["critical:open", "critical:resolved"]);
  });

  it("does not run a paused job, and does not catch up the paused ticks after resuming", async () => {
    const sim = simulation("2026-12-01T00:30:00Z", [job("p1", "0 * * * *", "UTC", { catch_up: "run-all" })]);
    const ticker = await sim.ticker();
    await sim.vt.runUntil(new Date("2026-12-01T01:30:00Z"));
    await sim.runner.setPaused("p1", true, "user:admin@acme.dev");
    await sim.vt.runUntil(new Date("2026-12-01T04:30:00Z"));
    await sim.runner.setPaused("p1", false, "user:admin@acme.dev");
    await sim.vt.runUntil(new Date("2026-12-01T05:30:00Z"));
    ticker.stop();
    assert.deepEqual(iso(sim.runsOf("p1")), ["2026-12-01T01:00:00.000Z", "2026-12-01T05:00:00.000Z"]);
    const views = await sim.runner.list();
    assert.equal(views[0]?.next_run, "2026-12-01T06:00:00.000Z");
  });

  it("runs a job on request under the same lease, and names the run id after the job", async () => {
    const sim = simulation("2026-12-01T00:00:00Z", [job("m1", "0 0 1 1 *", "UTC")], { m1: 5000 });
    const first = sim.runner.runNow("m1", "user:admin@acme.dev");
    const second = sim.runner.runNow("m1", "user:admin@acme.dev");
    await sim.vt.runUntil(new Date("2026-12-01T00:01:00Z"));
    const outcomes = [(await first).outcome, (await second).outcome].sort();
    assert.deepEqual(outcomes, ["skipped", "succeeded"]);
    assert.match((await first).id, /^m1_manual_/);
    await assert.rejects(sim.runner.runNow("nope", "x"), /no scheduled job "nope"/);
  });

  it("names a tick's run {job}_{tick}", () => {
    assert.equal(tickRunId("backup-prod", new Date("2026-12-01T03:00:00Z")), "backup-prod_20261201T030000Z");
  });
});

describe("Cloud Scheduler job differences", () => {
  const wanted = (over: Partial<WantedCloudJob> = {}): WantedCloudJob => ({
    name: "projects/p/locations/l/jobs/orch-backup-prod",
    description: "d",
    schedule: "0 3 * * *",
    timeZone: "UTC",
    attemptDeadline: "540s",
    uri: "https://f/run",
    body: '{"job":"backup-prod"}',
    serviceAccountEmail: "sa@p.iam.gserviceaccount.com",
    paused: false,
    ...over,
  });
  const existing = (over: Partial<ExistingCloudJob> = {}): ExistingCloudJob => {
    const { paused: _p, ...fields } = wanted();
    return { ...fields, state: "ENABLED", ...over };
  };

  it("creates, updates only what changed, pauses, resumes and deletes only its own jobs", () => {
    assert.deepEqual(diffCloudJobs([wanted()], []), [{ action: "create", job: wanted() }]);
    assert.deepEqual(diffCloudJobs([wanted()], [existing()]), []);
    assert.deepEqual(diffCloudJobs([wanted({ schedule: "0 4 * * *" })], [existing()]), [
      { action: "update", job: wanted({ schedule: "0 4 * * *" }), fields: ["schedule"] },
    ]);
    assert.deepEqual(diffCloudJobs([wanted({ paused: true })], [existing()]), [
      { action: "pause", name: wanted().name },
    ]);
    assert.deepEqual(diffCloudJobs([wanted()], [existing({ state: "PAUSED" })]), [
      { action: "resume", name: wanted().name },
    ]);
    assert.deepEqual(
      diffCloudJobs([], [existing(), existing({ name: "projects/p/locations/l/jobs/someone-elses" })]),
      [{ action: "delete", name: wanted().name }],
    );
  });
});
